/**
 * `ovenproof images prune`: retires bake-cache images on demand, before their expiry. Only unpromoted
 * bake images are candidates (an image with a bake key and a parent, not tagged `ovenproof:kept`);
 * base images and promoted images are never touched, and neither is an image a run holds a lease on.
 */
import { activeLeases, EXPIRES_TAG, isoSeconds, KEPT_TAG, lastUsedAt } from '../common/image-tags.js';
import type { Logger } from '../common/log.js';
import type { ImageManifest, Provider, RunContext } from '../providers/provider.js';

export interface PruneOptions {
  /** Only images last used at least this long ago; null = any age. */
  olderThanMs: number | null;
  /** Keep this many most recently used candidates whatever their age; null = none. */
  keepLast: number | null;
  dryRun: boolean;
  log: Logger;
  now?: number;
}

export interface PruneDecision {
  id: string;
  name: string;
  bakeKey: string;
  lastUsedAt: string;
  expiresAt: string | null;
  action: 'deleted' | 'would-delete' | 'kept';
  reason: string;
}

export function isBakeCacheImage(image: ImageManifest): boolean {
  return image.bakeKey !== null && image.parent !== null && image.tags[KEPT_TAG] !== 'true';
}

/** Deregistration outside any run: nothing to journal, nothing to report progress to. */
function pruneContext(log: Logger): RunContext {
  return {
    runId: 'prune',
    expiresAt: new Date(),
    journal: {
      intend: async () => undefined,
      created: async () => undefined,
      deleted: async () => undefined,
      kept: async () => undefined,
    },
    signal: new AbortController().signal,
    log,
    progress: () => undefined,
    tags: {},
  };
}

export async function pruneBakeCache(provider: Provider, options: PruneOptions): Promise<PruneDecision[]> {
  const now = options.now ?? Date.now();
  const candidates = (await provider.listImages()).filter(isBakeCacheImage);
  candidates.sort((a, b) => lastUsedAt(b) - lastUsedAt(a) || b.createdAt.localeCompare(a.createdAt));
  const ctx = pruneContext(options.log);
  const decisions: PruneDecision[] = [];
  for (const [index, image] of candidates.entries()) {
    const used = lastUsedAt(image);
    const leases = activeLeases(image.tags, now);
    let reason: string | null = null;
    if (leases.length > 0) reason = `in use by run ${leases.join(', ')}`;
    else if (options.keepLast !== null && index < options.keepLast)
      reason = `one of the ${options.keepLast} most recently used`;
    else if (options.olderThanMs !== null && now - used < options.olderThanMs) reason = 'used too recently';
    const decision: PruneDecision = {
      id: image.id,
      name: image.name,
      bakeKey: image.bakeKey!,
      lastUsedAt: isoSeconds(new Date(used)),
      expiresAt: image.tags[EXPIRES_TAG] ?? null,
      action: reason ? 'kept' : options.dryRun ? 'would-delete' : 'deleted',
      reason: reason ?? 'unpromoted bake-cache image',
    };
    if (decision.action === 'deleted') await provider.deregisterImage(ctx, image.id);
    decisions.push(decision);
  }
  return decisions;
}
