import { PipelineError } from '../../common/errors.js';
import type { Step } from '../../common/steps.js';
import { bakeImage, type BakeOutcome } from '../../baker/index.js';
import { KEPT_TAG } from '../../common/image-tags.js';
import { bakeRemotely, type RemoteBakeOutcome } from '../remote-bake.js';
import { holdImage, settleImage } from '../image-lifecycle.js';
import type { RunState } from './state.js';
import { timedStep } from './timing.js';

/**
 * Bakes (or reuses) the image to test and takes it into the bake cache for this run. Its cleanup
 * settles the image once the run's outcome is known: promotion per keep-image, copies to the extra
 * `regions` of a newly promoted image, and the end of this run's lease.
 */
export const bakeStage: Step<RunState> = {
  name: 'bake',
  async run(s, signal) {
    const { config, provider, log } = s.deps;
    // The stage's signal also carries its time limit, so the bake stops on either.
    const ctx = { ...s.ctx, signal };
    if (s.deps.bakery) {
      const remote = await bakeRemotely(
        await s.deps.bakery(),
        provider,
        {
          baseImage: config.baseImage,
          packageFiles: s.packageFiles,
          packages: config.packages,
          strategy: config.bakeStrategy,
        },
        ctx,
      );
      s.bake = remote;
      s.bakedBy = remote.bakedBy;
      log.info(
        remote.cacheHit
          ? `bakery ${remote.bakedBy}: reusing image ${remote.image.id} (bake ${remote.bakeId})`
          : `bakery ${remote.bakedBy} baked image ${remote.image.id} from ${remote.baseImageId} (bake ${remote.bakeId})`,
      );
      return;
    }
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
    const origin = reusedFrom(s.bake);
    log.info(
      s.bake.cacheHit
        ? `bake cache hit: reusing image ${s.bake.image.id} (bake key ${s.bake.bakeKey.slice(0, 12)}${origin ? `, baked by run ${origin}` : ''})`
        : `baked image ${s.bake.image.id} from ${s.bake.baseImageId} (${s.bake.strategy} strategy)`,
    );
    s.imageFate = await holdImage(provider, ctx, s.ledger, s.bake, config.cacheTtlMs);
  },
  cleanup: finishImage,
};

/** The run that baked a reused image (its `ovenproof:run-id` tag), for "reused from run X". */
export function reusedFrom(bake: BakeOutcome): string | null {
  return bake.image.tags['ovenproof:run-id'] ?? null;
}

/** Once the run's outcome is known: promotion per keep-image, copies to extra regions, lease release. */
async function finishImage(s: RunState): Promise<void> {
  const { deps, ctx, mode } = s;
  const bake = s.bake;
  if (!bake) return;
  const policy = deps.config.keepImage;
  const promote = mode === 'bake' || policy === 'always' || (policy === 'on-success' && s.succeeded);
  const tested = mode === 'run' ? (s.succeeded ? 'passed' : 'failed') : null;
  if (s.bakedBy) return finishBakeryImage(s, bake as RemoteBakeOutcome, promote, tested);
  if (!s.imageFate) return;
  const fate = s.imageFate;
  const wasPromoted = fate.promoted;
  const label = promote && !wasPromoted ? 'Promoting' : 'Releasing';
  s.imageFate = await timedStep(
    s,
    'teardown',
    `settle image ${bake.image.id}`,
    `${label} image ${bake.image.id}`,
    () =>
      settleImage(deps.provider, ctx, bake, fate, {
        promote,
        tested,
        reason:
          mode === 'bake'
            ? 'bake command'
            : `keep-image: ${policy}${s.succeeded ? '' : ', run not successful'}`,
        log: deps.log,
      }),
  );
  const regions = deps.config.regions;
  if (promote && !wasPromoted && regions.length > 0) {
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

/**
 * A bakery's image is the bakery's: the bakery that baked it (the home bakery of its region, which a
 * forwarding bakery reaches for us) promotes it and copies it to the extra `regions`.
 */
async function finishBakeryImage(
  s: RunState,
  bake: RemoteBakeOutcome,
  promote: boolean,
  tested: 'passed' | 'failed' | null,
): Promise<void> {
  const { deps, ctx } = s;
  const id = bake.image.id;
  if (bake.image.tags[KEPT_TAG] === 'true') return;
  if (!promote) {
    deps.log.info(
      `image ${id} stays in the bake cache of ${bake.bakedBy} (not promoted: keep-image: ${deps.config.keepImage})`,
    );
    return;
  }
  const { client } = await deps.bakery!();
  const regions = deps.config.regions;
  const promoted = await timedStep(
    s,
    'teardown',
    'settle image',
    regions.length
      ? `Promoting image ${id} and copying it to ${regions.join(', ')}`
      : `Promoting image ${id}`,
    () => client.promoteBake(bake.bakeId, { tested, regions }, ctx.signal),
  );
  s.imageFate = { promoted: true, expiresAt: null };
  s.imageCopies = promoted.copies;
  deps.log.info(`bakery ${bake.bakedBy} promoted image ${id} (bake ${bake.bakeId})`);
  for (const copy of promoted.copies) deps.log.info(`copied image ${id} to ${copy.region}: ${copy.id}`);
}
