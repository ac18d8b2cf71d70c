/**
 * The bake key: one sha256 over everything that decides what a baked image contains, so
 * that an image carrying the same key can be reused instead of baked again.
 */
import { createHash } from 'node:crypto';

/**
 * Bumped whenever the baker changes what it writes into an image (steps, hygiene, identity init) or
 * how the key is computed, so that images baked by an older ovenproof are not reused for a request
 * they no longer match. 2: package files enter by content digest instead of the file's sha256. 3: the
 * identity init survives an empty state file.
 */
export const BAKE_FORMAT_VERSION = 3;

export interface BakeKeyInput {
  baseImageId: string;
  /** OS packages from the distribution; order and duplicates do not matter. */
  packages: readonly string[];
  /**
   * Content digests of the package files (what they install, not how they were packed); order does not
   * matter (the package manager resolves it).
   */
  packageFileDigests: readonly string[];
  provisionScript?: string | null;
  /** The strategy that will actually bake (auto resolved), since the two differ in what they leave behind. */
  strategy: 'volume' | 'instance';
  formatVersion?: number;
}

const sortedUnique = (values: readonly string[]): string[] =>
  [...new Set(values.map((v) => v.trim()))].sort();

export function computeBakeKey(input: BakeKeyInput): string {
  if (!input.baseImageId) throw new Error('computeBakeKey: baseImageId is empty');
  for (const digest of input.packageFileDigests) {
    if (!/^[0-9a-f]{64}$/.test(digest))
      throw new Error(`computeBakeKey: "${digest}" is not a sha256 hex digest`);
  }
  // A canonical JSON document (fixed field order, sorted lists) so that equal requests hash equally.
  const canonical = JSON.stringify({
    format: input.formatVersion ?? BAKE_FORMAT_VERSION,
    base: input.baseImageId,
    packages: sortedUnique(input.packages).filter(Boolean),
    files: sortedUnique(input.packageFileDigests),
    provision: input.provisionScript ?? null,
    strategy: input.strategy,
  });
  return createHash('sha256').update(canonical).digest('hex');
}
