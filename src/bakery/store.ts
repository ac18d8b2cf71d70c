/**
 * Where the bakery keeps its jobs, their events and their resource ledgers. Every method is async so
 * that a networked store (a shared table for a fleet of bakeries) implements the same contract as the
 * embedded SQLite file used by a single bakery.
 *
 * Two operations must be atomic in every implementation: `insertUnlessActive` (two identical requests
 * arriving together create one job) and `claimNext` (a queued job is run by exactly one bakery).
 */
import type { ProviderName, ResourceKind } from '../providers/provider.js';
import type { BakeEvent, BakeEventType, BakeJob, BakeState, JobLedgerEntry } from './model.js';

export interface JobListQuery {
  state?: BakeState;
  limit: number;
}

export interface JobStats {
  countsByState: Record<BakeState, number>;
  /** Finished bakes in the window that reused a cached image, over all succeeded ones (null if none). */
  cacheHitRate: number | null;
  /** Per bake step: p50 and p95 duration over the succeeded bakes in the window. */
  stepDurationsMs: Record<string, { p50: number; p95: number; count: number }>;
  queueDepth: number;
  window: { since: string; bakes: number };
}

export interface JobStore {
  /**
   * Inserts `job` unless a queued or running job with the same bake key exists; returns the job that
   * now stands for that key and whether it is the new one.
   */
  insertUnlessActive(job: BakeJob): Promise<{ job: BakeJob; created: boolean }>;
  /** Newest succeeded job for this bake key, if any. */
  latestSucceeded(bakeKey: string): Promise<BakeJob | null>;
  get(id: string): Promise<BakeJob | null>;
  list(query: JobListQuery): Promise<BakeJob[]>;
  update(
    id: string,
    patch: Partial<Omit<BakeJob, 'id' | 'bakeKey' | 'request' | 'createdAt'>>,
  ): Promise<BakeJob>;
  /** Moves the oldest queued job to `running` for `owner`, or returns null when none is queued. */
  claimNext(owner: string, now: string): Promise<BakeJob | null>;
  /** Refreshes the heartbeat of the given running jobs of `owner`. */
  heartbeat(owner: string, ids: readonly string[], now: string): Promise<void>;
  /** Running jobs whose owner is not `liveOwner` or whose heartbeat is older than `staleBefore`. */
  orphans(liveOwner: string, staleBefore: string): Promise<BakeJob[]>;

  appendEvent(jobId: string, type: BakeEventType, data: Record<string, unknown>): Promise<BakeEvent>;
  events(jobId: string, afterSeq: number): Promise<BakeEvent[]>;

  ledgerIntend(
    jobId: string,
    entry: {
      key: string;
      provider: ProviderName;
      kind: ResourceKind;
      region?: string;
      data?: Record<string, string>;
    },
  ): Promise<void>;
  ledgerCreated(jobId: string, key: string, id: string, data?: Record<string, string>): Promise<void>;
  ledgerSetState(jobId: string, key: string, state: 'deleted' | 'kept'): Promise<void>;
  /** Every ledger entry of the job, oldest first. */
  ledger(jobId: string): Promise<JobLedgerEntry[]>;

  stats(since: string): Promise<JobStats>;
  close(): Promise<void>;
}
