/**
 * The bake cache on EC2, through the real SDK against the fault-injecting endpoint: a bake of a run
 * whose tests fail stays cached (future expiry, no kept tag, not deleted by the run's cleanup or post
 * step); a later hit pushes the expiry forward with CreateTags; the sweep retires it once it expires,
 * image and snapshots together.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { findCachedBake, type BakeOutcome } from '../../src/baker/index.js';
import { cleanupLedger } from '../../src/pipeline/cleanup.js';
import { holdImage, settleImage } from '../../src/pipeline/image-lifecycle.js';
import { pruneBakeCache } from '../../src/pipeline/prune.js';
import { EC2_TAGS } from '../../src/providers/ec2/index.js';
import type { ImageManifest } from '../../src/providers/provider.js';
import { harness, launchSpec, REGION, type Harness } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const WEEK = 7 * 86_400_000;
const KEY = 'b'.repeat(64);

/** Tags of the image and of each of its snapshots, as the endpoint holds them. */
function tagsOf(harness: Harness, imageId: string) {
  const region = harness.ec2.region(REGION);
  const image = region.images.get(imageId)!;
  return {
    image: Object.fromEntries(image.tags),
    snapshots: image.mappings.map((m) => Object.fromEntries(region.snapshots.get(m.snapshotId!)!.tags)),
  };
}

/** An instance bake of a widget package with the bake key KEY, as the baker makes it. */
async function bakeWidget(harness: Harness): Promise<{ image: ImageManifest; bake: BakeOutcome }> {
  const base = harness.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
  const builder = await harness.provider.launch(harness.ctx, launchSpec(base, { purpose: 'builder' }));
  await harness.provider.stopInstance(harness.ctx, builder.id);
  const image = await harness.provider.createImageFromInstance(harness.ctx, builder.id, {
    name: 'ovenproof-widget',
    os: 'debian-12',
    arch: 'x86_64',
    parent: base,
    packages: { widget: '1.0' },
    bakeKey: KEY,
    tags: {},
  });
  await harness.provider.terminate(harness.ctx, builder.id);
  const bake: BakeOutcome = {
    image,
    baseImageId: base,
    bakeKey: KEY,
    cacheHit: false,
    strategy: 'instance',
    durationsMs: {},
    steps: [],
  };
  return { image, bake };
}

describe('ec2 bake cache', () => {
  it('keeps a failed run’s bake cached, pushes its expiry on a hit, and sweeps it after expiry', async () => {
    h = await harness({ runId: 'op-failing-run' });
    const { image, bake } = await bakeWidget(h);

    // Run 1: bake, tests fail, keep-image: on-success → cached, not promoted.
    const held = await holdImage(h.provider, h.ctx, h.ledger, bake, WEEK);
    const settled = await settleImage(h.provider, h.ctx, bake, held, {
      promote: false,
      tested: 'failed',
      reason: 'keep-image: on-success, run not successful',
      log: h.log,
    });
    expect(settled.promoted).toBe(false);
    const firstExpiry = Date.parse(settled.expiresAt!);
    expect(firstExpiry).toBeGreaterThan(Date.now() + WEEK - 60_000);
    const tags = tagsOf(h, image.id);
    expect(tags.image[EC2_TAGS.kept]).toBeUndefined();
    expect(tags.image[EC2_TAGS.expiresAt]).toBe(settled.expiresAt);
    expect(tags.image['ovenproof:lease:op-failing-run']).toBeUndefined();
    for (const snapshot of tags.snapshots) expect(snapshot[EC2_TAGS.expiresAt]).toBe(settled.expiresAt);
    // The post step of the failed run (its ledger) leaves the cached image and its snapshots alone.
    const post = await cleanupLedger(h.ledger, async () => h!.provider, h.log);
    expect(post.failed).toEqual([]);
    expect(h.ec2.region(REGION).images.get(image.id)?.state).toBe('available');
    expect(h.ec2.requests.some((r) => r.action === 'DeregisterImage')).toBe(false);

    // Run 2, a minute later as far as the tags can tell: the same bake key is a hit, expiry pushed.
    const hit = await findCachedBake(h.provider, KEY);
    expect(hit?.id).toBe(image.id);
    const secondCtx = { ...h.ctx, runId: 'op-second-run', expiresAt: new Date(Date.now() + 3_600_000) };
    const before = h.ec2.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const again = await holdImage(
      h.provider,
      secondCtx,
      h.ledger,
      { ...bake, image: hit!, cacheHit: true },
      WEEK,
    );
    const createTags = h.ec2.requests.slice(before).filter((r) => r.action === 'CreateTags');
    expect(createTags.length).toBeGreaterThan(0);
    expect(Object.values(createTags[0]!.params)).toContain(EC2_TAGS.expiresAt);
    expect(Date.parse(again.expiresAt!)).toBeGreaterThan(firstExpiry);
    expect(tagsOf(h, image.id).image['ovenproof:lease:op-second-run']).toBeDefined();
    await settleImage(h.provider, secondCtx, { ...bake, image: hit!, cacheHit: true }, again, {
      promote: false,
      tested: 'failed',
      reason: 'keep-image: never',
      log: h.log,
    });

    // Nothing expired yet: the sweep keeps it.
    expect((await h.provider.sweep({ dryRun: false }, h.log)).some((r) => r.id === image.id)).toBe(false);

    // A third use with a 1 ms cache-ttl and an already expired run: the entry is now past its expiry.
    const lastCtx = { ...h.ctx, runId: 'op-third-run', expiresAt: new Date(Date.now() - 60_000) };
    const last = await holdImage(h.provider, lastCtx, h.ledger, { ...bake, image: hit!, cacheHit: true }, 1);
    await settleImage(h.provider, lastCtx, { ...bake, image: hit!, cacheHit: true }, last, {
      promote: false,
      tested: null,
      reason: 'keep-image: never',
      log: h.log,
    });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const snapshotIds = h.ec2
      .region(REGION)
      .images.get(image.id)!
      .mappings.map((m) => m.snapshotId!);
    const swept = await h.provider.sweep({ dryRun: false }, h.log);
    expect(swept.filter((r) => r.deleted).map((r) => r.id)).toContain(image.id);
    // Deregistering takes the image's snapshots with it.
    const deleted = h.ec2.requests
      .filter((r) => r.action === 'DeleteSnapshot')
      .map((r) => r.params.SnapshotId);
    expect(deleted).toEqual(expect.arrayContaining(snapshotIds));
    const region = h.ec2.region(REGION);
    expect(region.images.get(image.id)?.state ?? 'deregistered').toBe('deregistered');
    for (const id of snapshotIds) expect(region.snapshots.has(id)).toBe(false);
  }, 120_000);

  it('an image promoted without a verdict (by a bake) gets the verdict of the first run that would promote it, and keeps it', async () => {
    h = await harness({ runId: 'op-bake-command' });
    const { image, bake: fresh } = await bakeWidget(h);
    // `ovenproof bake`: promoted, no tests, so no verdict.
    const baked = await holdImage(h.provider, h.ctx, h.ledger, fresh, WEEK);
    await settleImage(h.provider, h.ctx, fresh, baked, {
      promote: true,
      tested: null,
      reason: 'bake command',
      log: h.log,
    });
    expect(tagsOf(h, image.id).image[EC2_TAGS.kept]).toBe('true');
    expect(tagsOf(h, image.id).image['ovenproof:tested']).toBeUndefined();

    // A run on the same image that passes with keep-image: on-success records its verdict.
    const runOn = async (runId: string, tested: 'passed' | 'failed') => {
      const hit = await findCachedBake(h!.provider, KEY);
      expect(hit?.id).toBe(image.id);
      const ctx = { ...h!.ctx, runId };
      const bake = { ...fresh, image: hit!, cacheHit: true };
      const fate = await holdImage(h!.provider, ctx, h!.ledger, bake, WEEK);
      expect(fate.promoted).toBe(true);
      return settleImage(h!.provider, ctx, bake, fate, {
        promote: true,
        tested,
        reason: 'keep-image: always',
        log: h!.log,
      });
    };
    expect(await runOn('op-passing-run', 'passed')).toEqual({ promoted: true, expiresAt: null });
    expect(tagsOf(h, image.id).image['ovenproof:tested']).toBe('passed');
    // A later failing run that would promote it too leaves the recorded verdict as it is.
    await runOn('op-later-failing-run', 'failed');
    expect(tagsOf(h, image.id).image['ovenproof:tested']).toBe('passed');
  });

  it('images prune deletes unpromoted, unleased cache AMIs with their snapshots, and nothing else', async () => {
    h = await harness();
    const owner = '123456789012';
    const ago = (hours: number) =>
      new Date(Date.now() - hours * 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const cacheTags = (key: string, usedHoursAgo: number) => ({
      [EC2_TAGS.runId]: 'op-old',
      [EC2_TAGS.expiresAt]: '2099-01-01T00:00:00Z',
      'ovenproof:bake-key': key.repeat(64),
      'ovenproof:parent': 'ami-0123456789abcdef0',
      'ovenproof:last-used-at': ago(usedHoursAgo),
    });
    const ids = {
      recent: h.ec2.seedImage(REGION, { name: 'recent', owner, tags: cacheTags('1', 1) }),
      cold: h.ec2.seedImage(REGION, { name: 'cold', owner, tags: cacheTags('2', 48) }),
      leased: h.ec2.seedImage(REGION, {
        name: 'leased',
        owner,
        tags: { ...cacheTags('3', 48), 'ovenproof:lease:op-busy': '2099-01-01T00:00:00Z' },
      }),
      promoted: h.ec2.seedImage(REGION, {
        name: 'promoted',
        owner,
        tags: {
          [EC2_TAGS.runId]: 'op-old',
          [EC2_TAGS.kept]: 'true',
          'ovenproof:bake-key': '4'.repeat(64),
          'ovenproof:parent': 'ami-0123456789abcdef0',
        },
      }),
    };
    const coldSnapshot = h.ec2.region(REGION).images.get(ids.cold)!.mappings[0]!.snapshotId!;
    const dry = await pruneBakeCache(h.provider, {
      olderThanMs: 86_400_000,
      keepLast: null,
      dryRun: true,
      log: h.log,
    });
    expect(Object.fromEntries(dry.map((d) => [d.id, d.action]))).toEqual({
      [ids.recent]: 'kept',
      [ids.cold]: 'would-delete',
      [ids.leased]: 'kept',
    });
    expect(h.ec2.requests.some((r) => r.action === 'DeregisterImage')).toBe(false);

    await pruneBakeCache(h.provider, { olderThanMs: 86_400_000, keepLast: null, dryRun: false, log: h.log });
    const deregistered = h.ec2.requests
      .filter((r) => r.action === 'DeregisterImage')
      .map((r) => r.params.ImageId);
    expect(deregistered).toEqual([ids.cold]);
    expect(
      h.ec2.requests.filter((r) => r.action === 'DeleteSnapshot').map((r) => r.params.SnapshotId),
    ).toEqual([coldSnapshot]);
  }, 60_000);
});
