/**
 * What happens to a run's image between the bake and the end of the run. The bake cache and promotion
 * are separate: every successful bake stays in the cache with an expiry `cache-ttl` after its last use
 * (pushed forward on every hit, so the sweep retires only cold entries), whatever the tests say;
 * `keep-image` only decides promotion (tagged `ovenproof:kept=true` and tested, never swept).
 *
 * While a run uses an image it holds a lease tag on it, so `images prune` never deletes an image from
 * under a concurrent run; the lease ends with the run (or at the run's expiry if the run dies).
 */
import {
  EXPIRES_TAG,
  KEPT_TAG,
  LAST_USED_TAG,
  TESTED_TAG,
  leaseTag,
  isoSeconds,
} from '../common/image-tags.js';
import type { Logger } from '../common/log.js';
import type { BakeOutcome } from '../baker/index.js';
import type { Provider, RunContext } from '../providers/provider.js';
import type { Ledger } from './ledger.js';

export interface ImageFate {
  /** Tagged kept (promoted by keep-image, or already promoted before this run). */
  promoted: boolean;
  /** When the cache entry expires; null for a promoted image. */
  expiresAt: string | null;
}

/** The later of `cache-ttl` from now and the run's own expiry: a cached image outlives the run using it. */
export function cacheExpiry(now: number, cacheTtlMs: number, runExpiresAt: Date): Date {
  return new Date(Math.max(now + cacheTtlMs, runExpiresAt.getTime()));
}

/**
 * Called once the bake stage has an image: takes this run's lease, records the use and pushes the
 * expiry of an unpromoted image forward. A fresh bake becomes a cache entry at once: its ledger
 * entries (the image and the snapshots backing it) are marked kept, so neither this run's cleanup nor
 * the post step deletes it, even if the run is killed.
 */
export async function holdImage(
  provider: Provider,
  ctx: RunContext,
  ledger: Ledger,
  bake: BakeOutcome,
  cacheTtlMs: number,
): Promise<ImageFate> {
  const now = Date.now();
  const promoted = bake.image.tags[KEPT_TAG] === 'true';
  const expiresAt = promoted ? null : isoSeconds(cacheExpiry(now, cacheTtlMs, ctx.expiresAt));
  // A promoted image is never pruned or swept, so it needs neither a lease nor a use record.
  if (!promoted)
    await provider.tagImage(ctx, bake.image.id, {
      [leaseTag(ctx.runId)]: isoSeconds(ctx.expiresAt),
      [LAST_USED_TAG]: isoSeconds(new Date(now)),
      ...(expiresAt ? { [EXPIRES_TAG]: expiresAt } : {}),
    });
  if (!bake.cacheHit) {
    for (const entry of ledger.entries()) {
      const backing = entry.kind === 'snapshot' && entry.state === 'live';
      const image = entry.kind === 'image' && entry.id === bake.image.id;
      if (backing || image) await ledger.kept(entry.key);
    }
  }
  return { promoted, expiresAt };
}

export interface SettleOptions {
  /** keep-image says this run promotes its image. */
  promote: boolean;
  /** Value of `ovenproof:tested` on promotion (`run` only). */
  tested: 'passed' | 'failed' | null;
  /** Why, for the log line (`keep-image: on-success`, `bake command`). */
  reason: string;
  log: Logger;
}

/** At the end of the run: promote per keep-image or leave the image cached, and release the lease. */
export async function settleImage(
  provider: Provider,
  ctx: RunContext,
  bake: BakeOutcome,
  fate: ImageFate,
  options: SettleOptions,
): Promise<ImageFate> {
  const id = bake.image.id;
  let settled = fate;
  if (options.promote && !fate.promoted) {
    await provider.tagImage(ctx, id, {
      [KEPT_TAG]: 'true',
      ...(options.tested ? { [TESTED_TAG]: options.tested } : {}),
    });
    settled = { promoted: true, expiresAt: null };
    options.log.info(`promoted image ${id} (${options.reason})`);
  } else if (options.promote && options.tested && !bake.image.tags[TESTED_TAG]) {
    // Promoted before without a verdict (`ovenproof bake` runs no tests): the first run that tests it
    // and would have promoted it records its verdict. A verdict already there stays.
    await provider.tagImage(ctx, id, { [TESTED_TAG]: options.tested });
    options.log.info(`image ${id} was already promoted; tagged ${TESTED_TAG}=${options.tested}`);
  } else if (!fate.promoted) {
    options.log.info(
      `image ${id} stays in the bake cache until ${fate.expiresAt} (not promoted: ${options.reason})`,
    );
  }
  if (!fate.promoted) await provider.untagImage(ctx, id, [leaseTag(ctx.runId)]);
  return settled;
}
