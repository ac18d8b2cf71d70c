/**
 * The failure snapshot step: when the tests failed (or timed out), after the result files were fetched
 * and before the instance is torn down, the instance's disk becomes an image that `ovenproof reproduce`
 * boots again. Best effort by design: a capture that fails is a warning, never a failed run, and never
 * stands between the instance and its teardown.
 */
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Provider, RunContext } from '../providers/provider.js';
import type { TestsSummary } from '../results/model.js';
import type { Config } from './config.js';

export interface FailureImageRecord {
  id: string;
  expiresAt: string;
}

/** Limit for flushing the guest's page cache before the capture (a wedged guest must not hold it up). */
export const GUEST_SYNC_TIMEOUT_MS = 60_000;

export async function captureFailureSnapshot(
  deps: { config: Config; provider: Provider; log: Logger; commit: string | null },
  ctx: RunContext,
  instanceId: string,
  tests: TestsSummary,
  /** Flushes the guest's file systems (`sync` over SSH), so that files the tests just wrote are on disk. */
  syncGuest: (() => Promise<void>) | null,
): Promise<FailureImageRecord | null> {
  const { config, provider, log } = deps;
  if (config.snapshotOnFailure === 'never') return null;
  if (!provider.captureFailureImage) {
    log.warn(`snapshot-on-failure: the ${provider.name} provider cannot capture instances; skipped`);
    return null;
  }
  try {
    if (syncGuest) {
      await syncGuest().catch((error: unknown) =>
        log.warn(`could not sync the instance's file systems before the capture: ${errorMessage(error)}`),
      );
    }
    const expiresAt = new Date(Date.now() + config.failureSnapshotTtlMs);
    const image = await provider.captureFailureImage(ctx, instanceId, {
      commit: deps.commit,
      failingTests: tests.failures.map((f) => f.name),
      expiresAt,
    });
    const record = { id: image.id, expiresAt: image.tags['ovenproof:expires-at'] ?? expiresAt.toISOString() };
    log.info(
      `captured the failing instance's disk as ${record.id} (until ${record.expiresAt}); ` +
        'boot it again with: ovenproof reproduce --result-json RESULT.json',
    );
    return record;
  } catch (error) {
    log.warn(`snapshot-on-failure: capturing instance ${instanceId} failed: ${errorMessage(error)}`);
    return null;
  }
}
