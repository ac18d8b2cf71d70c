/**
 * Tags that describe an image's place in the bake cache, shared by the pipeline, the CLI's prune and
 * both providers. Times are ISO 8601 UTC to the second (`2026-11-22T14:00:00Z`).
 */
export const KEPT_TAG = 'ovenproof:kept';
export const EXPIRES_TAG = 'ovenproof:expires-at';
/** The verdict (`passed` or `failed`) of the run that promoted the image, when a run did. */
export const TESTED_TAG = 'ovenproof:tested';
/** When a run last baked or reused the image (prune's `--older-than` and `--keep-last` read it). */
export const LAST_USED_TAG = 'ovenproof:last-used-at';
/** `ovenproof:lease:<run id>` = that run's expiry: the run is using the image until then. */
export const LEASE_TAG_PREFIX = 'ovenproof:lease:';

export function leaseTag(runId: string): string {
  return `${LEASE_TAG_PREFIX}${runId}`;
}

export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Run ids holding a lease that has not run out at `now`. */
export function activeLeases(tags: Record<string, string>, now: number): string[] {
  return Object.entries(tags)
    .filter(([key, until]) => key.startsWith(LEASE_TAG_PREFIX) && Date.parse(until) > now)
    .map(([key]) => key.slice(LEASE_TAG_PREFIX.length));
}

/** When the image was last used: its last-used tag, else its creation time. */
export function lastUsedAt(image: { createdAt: string; tags: Record<string, string> }): number {
  const tagged = Date.parse(image.tags[LAST_USED_TAG] ?? '');
  return Number.isNaN(tagged) ? Date.parse(image.createdAt) : tagged;
}
