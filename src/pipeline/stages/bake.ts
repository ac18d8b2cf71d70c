import { PipelineError } from '../../common/errors.js';
import type { Step } from '../../common/steps.js';
import { bakeImage, type BakeOutcome } from '../../baker/index.js';
import type { Ledger } from '../ledger.js';
import type { RunState } from './state.js';
import { timedStep } from './timing.js';

/**
 * Bakes (or reuses) the image to test. Its cleanup decides the image's fate once the run's outcome
 * is known: the keep-image policy, and copies to the extra `regions` of a kept image.
 */
export const bakeStage: Step<RunState> = {
  name: 'bake',
  async run(s, signal) {
    const { config, provider, log } = s.deps;
    // The stage's signal also carries its time limit, so the bake stops on either.
    const ctx = { ...s.ctx, signal };
    await provider.prepareBaseImage?.(ctx, config.baseImage);
    s.bake = await bakeImage(
      provider,
      {
        baseImage: config.baseImage,
        packageFiles: s.packageFiles,
        packages: config.packages,
        strategy: config.bakeStrategy,
        sshUser: config.sshUser,
      },
      ctx,
      {
        sshTimeoutMs: config.sshTimeoutMs,
        ...(s.deps.restoreCachedBake ? { restoreCachedBake: s.deps.restoreCachedBake } : {}),
      },
    );
    log.info(
      s.bake.cacheHit
        ? `bake cache hit: reusing image ${s.bake.image.id} (bake key ${s.bake.bakeKey.slice(0, 12)})`
        : `baked image ${s.bake.image.id} from ${s.bake.baseImageId} (${s.bake.strategy} strategy)`,
    );
  },
  cleanup: settleImage,
};

async function settleImage(s: RunState): Promise<void> {
  const { deps, ctx, ledger, mode } = s;
  const bake = s.bake;
  if (!bake) return;
  const entry = ledger
    .entries()
    .find((e) => e.kind === 'image' && e.id === bake.image.id && e.state === 'live');
  // A cache hit reuses an image an earlier run made and kept: it is never this run's to delete.
  if (bake.cacheHit || !entry) return;
  const policy = deps.config.keepImage;
  const keep = mode === 'bake' || policy === 'always' || (policy === 'on-success' && s.succeeded);
  if (!keep) {
    await timedStep(s, 'teardown', `delete image ${bake.image.id}`, `Deleting image ${bake.image.id}`, () =>
      deps.provider.deregisterImage(ctx, bake.image.id),
    );
    await ledger.deleted(entry.key);
    deps.log.info(`deleted image ${bake.image.id} (keep-image: ${policy})`);
    return;
  }
  const tags: Record<string, string> = { 'ovenproof:kept': 'true' };
  if (mode === 'run') tags['ovenproof:tested'] = s.succeeded ? 'passed' : 'failed';
  await timedStep(s, 'teardown', `keep image ${bake.image.id}`, `Keeping image ${bake.image.id}`, () =>
    deps.provider.tagImage(ctx, bake.image.id, tags),
  );
  await ledger.kept(entry.key);
  deps.log.info(`kept image ${bake.image.id} (keep-image: ${mode === 'bake' ? 'bake command' : policy})`);
  const regions = deps.config.regions;
  if (regions.length > 0) {
    if (!deps.provider.copyImage)
      throw new PipelineError('teardown', `regions: the ${deps.provider.name} provider cannot copy images`);
    const copyImage = deps.provider.copyImage.bind(deps.provider);
    s.imageCopies = await timedStep(s, 'teardown', 'copy image', `Copying image ${bake.image.id}`, () =>
      copyImage(ctx, bake.image.id, regions),
    );
    for (const copy of s.imageCopies)
      deps.log.info(`copied image ${bake.image.id} to ${copy.region}: ${copy.id}`);
  }
}

export function imageKept(ledger: Ledger, bake: BakeOutcome): boolean {
  if (bake.cacheHit) return bake.image.tags['ovenproof:kept'] === 'true';
  return ledger.entries().some((e) => e.kind === 'image' && e.id === bake.image.id && e.state === 'kept');
}
