/**
 * Where the bakery keeps its jobs, their events and their resource ledgers. Every method is async so
 * that a networked store (a shared table for a fleet of bakeries) implements the same contract as the
 * embedded SQLite file used by a single bakery.
 *
 * Three operations must be atomic in every implementation, also between processes sharing the store:
 * `insertUnlessActive` (two identical requests arriving together create one job), `claimNext` (a
 * queued job is run by exactly one bakery) and `takeOver` (one bakery recovers a dead bakery's job).
 * Every write must be safe to repeat: a networked store's client retries a request whose answer it
 * did not get.
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

/** One bakery process of the store, as the dashboard lists it. */
export interface BakeryRecord {
  /** The process (`host:pid:start`): what jobs record as their owner. */
  id: string;
  region: string | null;
  provider: string;
  url: string;
  startedAt: string;
  heartbeatAt: string;
}

export interface JobStore {
  /** Whether other bakery processes may use this store at the same time (a fleet). */
  readonly shared: boolean;

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
  /**
   * Moves a queued job that `accepts` takes to `running` for `owner` (its lease starts with the
   * heartbeat `now`), or returns null when there is none. The oldest first; a shared store may take
   * one of the few oldest, so that bakeries claiming together do not all race for the same job.
   */
  claimNext(
    owner: string,
    now: string,
    accepts?: (job: BakeJob) => Promise<boolean>,
  ): Promise<BakeJob | null>;
  /**
   * Renews the lease (heartbeat) of the given running jobs of `owner`; returns the ids whose lease
   * `owner` no longer holds (taken over by another bakery, or finished elsewhere).
   */
  heartbeat(owner: string, ids: readonly string[], now: string): Promise<string[]>;
  /** Running jobs whose heartbeat is missing or older than `staleBefore`: their bakery is gone. */
  orphans(staleBefore: string): Promise<BakeJob[]>;
  /**
   * Takes the lease of an orphan for `owner` if nobody renewed or took it since `orphan` was read;
   * returns the job as taken, or null when another bakery was first (or its bakery came back).
   */
  takeOver(orphan: BakeJob, owner: string, now: string): Promise<BakeJob | null>;

  /** Records (or refreshes) a bakery process of the store with its heartbeat. */
  registerBakery(record: BakeryRecord): Promise<void>;
  unregisterBakery(id: string): Promise<void>;
  /** The bakeries of the store, most recent heartbeat first. */
  bakeries(): Promise<BakeryRecord[]>;

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

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

/**
 * The statistics of `stats()` from the job counts and the bakes that succeeded in the window: every
 * store reads those its own way, the arithmetic is the same.
 */
export function summarizeStats(
  countsByState: Record<BakeState, number>,
  recent: ReadonlyArray<{ cacheHit: boolean; durationsMs: Record<string, number> }>,
  since: string,
): JobStats {
  const samples = new Map<string, number[]>();
  let hits = 0;
  for (const job of recent) {
    if (job.cacheHit) {
      hits++;
      continue;
    }
    for (const [step, ms] of Object.entries(job.durationsMs)) {
      const list = samples.get(step) ?? [];
      list.push(ms);
      samples.set(step, list);
    }
  }
  const stepDurationsMs: JobStats['stepDurationsMs'] = {};
  for (const [step, values] of samples) {
    values.sort((a, b) => a - b);
    stepDurationsMs[step] = {
      p50: percentile(values, 50),
      p95: percentile(values, 95),
      count: values.length,
    };
  }
  return {
    countsByState,
    cacheHitRate: recent.length ? hits / recent.length : null,
    stepDurationsMs,
    queueDepth: countsByState.queued,
    window: { since, bakes: recent.length },
  };
}
