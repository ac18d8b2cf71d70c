/**
 * The job store of a single bakery: one SQLite file under the data dir, in WAL mode so that status
 * reads never wait for a bake's writes. better-sqlite3 is synchronous, which makes every method a
 * single transaction of this process: `insertUnlessActive` and `claimNext` need no further locking.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { ProviderName, ResourceKind } from '../providers/provider.js';
import type { BakeEvent, BakeEventType, BakeJob, BakeState, JobLedgerEntry } from './model.js';
import {
  summarizeStats,
  type BakeryRecord,
  type JobListQuery,
  type JobStats,
  type JobStore,
} from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  bake_key TEXT NOT NULL,
  state TEXT NOT NULL,
  request TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  step TEXT,
  progress REAL NOT NULL DEFAULT 0,
  image TEXT,
  error TEXT,
  cache_hit INTEGER NOT NULL DEFAULT 0,
  durations TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  heartbeat_at TEXT,
  owner TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_key ON jobs (bake_key, state);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at);
CREATE TABLE IF NOT EXISTS events (
  job_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (job_id, seq)
);
CREATE TABLE IF NOT EXISTS ledger (
  job_id TEXT NOT NULL,
  pos INTEGER NOT NULL,
  key TEXT NOT NULL,
  provider TEXT NOT NULL,
  kind TEXT NOT NULL,
  id TEXT,
  region TEXT,
  state TEXT NOT NULL,
  created_at TEXT NOT NULL,
  deleted_at TEXT,
  data TEXT NOT NULL,
  PRIMARY KEY (job_id, pos)
);
CREATE TABLE IF NOT EXISTS bakeries (
  id TEXT PRIMARY KEY,
  region TEXT,
  provider TEXT NOT NULL,
  url TEXT NOT NULL,
  started_at TEXT NOT NULL,
  heartbeat_at TEXT NOT NULL
);
`;

interface JobRow {
  id: string;
  bake_key: string;
  state: BakeState;
  request: string;
  requested_by: string;
  step: string | null;
  progress: number;
  image: string | null;
  error: string | null;
  cache_hit: number;
  durations: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  heartbeat_at: string | null;
  owner: string | null;
}

interface LedgerRow {
  pos: number;
  key: string;
  provider: ProviderName;
  kind: ResourceKind;
  id: string | null;
  region: string | null;
  state: JobLedgerEntry['state'];
  created_at: string;
  deleted_at: string | null;
  data: string;
}

function toJob(row: JobRow): BakeJob {
  return {
    id: row.id,
    bakeKey: row.bake_key,
    state: row.state,
    request: JSON.parse(row.request) as BakeJob['request'],
    requestedBy: row.requested_by,
    step: row.step,
    progress: row.progress,
    image: row.image ? (JSON.parse(row.image) as BakeJob['image']) : null,
    error: row.error ? { message: row.error } : null,
    cacheHit: row.cache_hit === 1,
    durationsMs: JSON.parse(row.durations) as Record<string, number>,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    heartbeatAt: row.heartbeat_at,
    owner: row.owner,
  };
}

/** Column values of the job fields that `update` may change. */
function columnsOf(patch: Partial<BakeJob>): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  if (patch.state !== undefined) columns.state = patch.state;
  if (patch.requestedBy !== undefined) columns.requested_by = patch.requestedBy;
  if (patch.step !== undefined) columns.step = patch.step;
  if (patch.progress !== undefined) columns.progress = patch.progress;
  if (patch.image !== undefined) columns.image = patch.image ? JSON.stringify(patch.image) : null;
  if (patch.error !== undefined) columns.error = patch.error?.message ?? null;
  if (patch.cacheHit !== undefined) columns.cache_hit = patch.cacheHit ? 1 : 0;
  if (patch.durationsMs !== undefined) columns.durations = JSON.stringify(patch.durationsMs);
  if (patch.startedAt !== undefined) columns.started_at = patch.startedAt;
  if (patch.finishedAt !== undefined) columns.finished_at = patch.finishedAt;
  if (patch.heartbeatAt !== undefined) columns.heartbeat_at = patch.heartbeatAt;
  if (patch.owner !== undefined) columns.owner = patch.owner;
  return columns;
}

export class SqliteJobStore implements JobStore {
  /** The data dir (and so this file) belongs to one bakery process at a time. */
  readonly shared = false;
  private readonly db: Database.Database;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // WAL with synchronous=NORMAL survives a process crash (SIGKILL) without losing committed writes.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
  }

  async insertUnlessActive(job: BakeJob): Promise<{ job: BakeJob; created: boolean }> {
    const run = this.db.transaction(() => {
      const active = this.db
        .prepare(
          `SELECT * FROM jobs WHERE bake_key = ? AND state IN ('queued','running') ORDER BY created_at LIMIT 1`,
        )
        .get(job.bakeKey) as JobRow | undefined;
      if (active) return { job: toJob(active), created: false };
      this.db
        .prepare(
          `INSERT INTO jobs (id, bake_key, state, request, requested_by, step, progress, image, error, cache_hit,
             durations, created_at, started_at, finished_at, heartbeat_at, owner)
           VALUES (@id, @bake_key, @state, @request, @requested_by, @step, @progress, NULL, NULL, 0, '{}',
             @created_at, NULL, NULL, NULL, NULL)`,
        )
        .run({
          id: job.id,
          bake_key: job.bakeKey,
          state: job.state,
          request: JSON.stringify(job.request),
          requested_by: job.requestedBy,
          step: job.step,
          progress: job.progress,
          created_at: job.createdAt,
        });
      return { job, created: true };
    });
    return run.immediate();
  }

  async latestSucceeded(bakeKey: string): Promise<BakeJob | null> {
    const row = this.db
      .prepare(
        `SELECT * FROM jobs WHERE bake_key = ? AND state = 'succeeded' ORDER BY finished_at DESC LIMIT 1`,
      )
      .get(bakeKey) as JobRow | undefined;
    return row ? toJob(row) : null;
  }

  async get(id: string): Promise<BakeJob | null> {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row ? toJob(row) : null;
  }

  async list(query: JobListQuery): Promise<BakeJob[]> {
    const rows = query.state
      ? this.db
          .prepare('SELECT * FROM jobs WHERE state = ? ORDER BY created_at DESC LIMIT ?')
          .all(query.state, query.limit)
      : this.db.prepare('SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?').all(query.limit);
    return (rows as JobRow[]).map(toJob);
  }

  async update(
    id: string,
    patch: Partial<Omit<BakeJob, 'id' | 'bakeKey' | 'request' | 'createdAt'>>,
  ): Promise<BakeJob> {
    const columns = columnsOf(patch);
    const names = Object.keys(columns);
    if (names.length > 0) {
      this.db
        .prepare(`UPDATE jobs SET ${names.map((n) => `${n} = @${n}`).join(', ')} WHERE id = @id`)
        .run({ ...columns, id });
    }
    const job = await this.get(id);
    if (!job) throw new Error(`bake ${id} does not exist`);
    return job;
  }

  async claimNext(
    owner: string,
    now: string,
    accepts: (job: BakeJob) => Promise<boolean> = async () => true,
  ): Promise<BakeJob | null> {
    const queued = this.db
      .prepare(`SELECT * FROM jobs WHERE state = 'queued' ORDER BY created_at`)
      .all() as JobRow[];
    const claim = this.db.prepare(
      `UPDATE jobs SET state = 'running', owner = ?, started_at = ?, heartbeat_at = ? WHERE id = ? AND state = 'queued'`,
    );
    for (const row of queued) {
      if (!(await accepts(toJob(row)))) continue;
      if (claim.run(owner, now, now, row.id).changes === 1) return this.get(row.id);
    }
    return null;
  }

  async heartbeat(owner: string, ids: readonly string[], now: string): Promise<string[]> {
    const statement = this.db.prepare(
      `UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND owner = ? AND state = 'running'`,
    );
    return this.db.transaction(() => ids.filter((id) => statement.run(now, id, owner).changes === 0))();
  }

  async orphans(staleBefore: string): Promise<BakeJob[]> {
    const rows = this.db
      .prepare(`SELECT * FROM jobs WHERE state = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < ?)`)
      .all(staleBefore) as JobRow[];
    return rows.map(toJob);
  }

  async takeOver(orphan: BakeJob, owner: string, now: string): Promise<BakeJob | null> {
    const taken = this.db
      .prepare(
        `UPDATE jobs SET owner = ?, heartbeat_at = ? WHERE id = ? AND state = 'running'
           AND owner IS ? AND heartbeat_at IS ?`,
      )
      .run(owner, now, orphan.id, orphan.owner, orphan.heartbeatAt);
    return taken.changes === 1 ? this.get(orphan.id) : null;
  }

  async registerBakery(record: BakeryRecord): Promise<void> {
    // One bakery per data dir: the newest process replaces whatever an earlier one recorded.
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM bakeries WHERE id != ?').run(record.id);
      this.db
        .prepare(
          `INSERT INTO bakeries (id, region, provider, url, started_at, heartbeat_at)
           VALUES (@id, @region, @provider, @url, @startedAt, @heartbeatAt)
           ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, url = excluded.url`,
        )
        .run(record);
    })();
  }

  async unregisterBakery(id: string): Promise<void> {
    this.db.prepare('DELETE FROM bakeries WHERE id = ?').run(id);
  }

  async bakeries(): Promise<BakeryRecord[]> {
    const rows = this.db.prepare('SELECT * FROM bakeries ORDER BY heartbeat_at DESC').all() as Array<{
      id: string;
      region: string | null;
      provider: string;
      url: string;
      started_at: string;
      heartbeat_at: string;
    }>;
    return rows.map((r) => ({
      id: r.id,
      region: r.region,
      provider: r.provider,
      url: r.url,
      startedAt: r.started_at,
      heartbeatAt: r.heartbeat_at,
    }));
  }

  async appendEvent(jobId: string, type: BakeEventType, data: Record<string, unknown>): Promise<BakeEvent> {
    const at = new Date().toISOString();
    const insert = this.db.transaction(() => {
      const { next } = this.db
        .prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM events WHERE job_id = ?')
        .get(jobId) as { next: number };
      this.db
        .prepare('INSERT INTO events (job_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)')
        .run(jobId, next, type, JSON.stringify(data), at);
      return next;
    });
    return { seq: insert.immediate(), type, data, at };
  }

  async events(jobId: string, afterSeq: number): Promise<BakeEvent[]> {
    const rows = this.db
      .prepare('SELECT seq, type, data, at FROM events WHERE job_id = ? AND seq > ? ORDER BY seq')
      .all(jobId, afterSeq) as Array<{ seq: number; type: BakeEventType; data: string; at: string }>;
    return rows.map((r) => ({
      seq: r.seq,
      type: r.type,
      data: JSON.parse(r.data) as Record<string, unknown>,
      at: r.at,
    }));
  }

  async ledgerIntend(
    jobId: string,
    entry: {
      key: string;
      provider: ProviderName;
      kind: ResourceKind;
      region?: string;
      data?: Record<string, string>;
    },
  ): Promise<void> {
    const insert = this.db.transaction(() => {
      const live = this.db
        .prepare(`SELECT 1 FROM ledger WHERE job_id = ? AND key = ? AND state != 'deleted'`)
        .get(jobId, entry.key);
      if (live) throw new Error(`ledger of bake ${jobId} already has a live resource with key ${entry.key}`);
      const { next } = this.db
        .prepare('SELECT COALESCE(MAX(pos), 0) + 1 AS next FROM ledger WHERE job_id = ?')
        .get(jobId) as { next: number };
      this.db
        .prepare(
          `INSERT INTO ledger (job_id, pos, key, provider, kind, id, region, state, created_at, deleted_at, data)
           VALUES (?, ?, ?, ?, ?, NULL, ?, 'creating', ?, NULL, ?)`,
        )
        .run(
          jobId,
          next,
          entry.key,
          entry.provider,
          entry.kind,
          entry.region ?? null,
          new Date().toISOString(),
          JSON.stringify(entry.data ?? {}),
        );
    });
    insert.immediate();
  }

  private latestLedgerRow(jobId: string, key: string): LedgerRow {
    const row = this.db
      .prepare('SELECT * FROM ledger WHERE job_id = ? AND key = ? ORDER BY pos DESC LIMIT 1')
      .get(jobId, key) as LedgerRow | undefined;
    if (!row) throw new Error(`ledger of bake ${jobId} has no resource with key ${key}`);
    return row;
  }

  async ledgerCreated(jobId: string, key: string, id: string, data?: Record<string, string>): Promise<void> {
    const row = this.latestLedgerRow(jobId, key);
    const merged = { ...(JSON.parse(row.data) as Record<string, string>), ...data };
    this.db
      .prepare(
        `UPDATE ledger SET id = ?, data = ?, state = CASE state WHEN 'creating' THEN 'live' ELSE state END
         WHERE job_id = ? AND pos = ?`,
      )
      .run(id, JSON.stringify(merged), jobId, row.pos);
  }

  async ledgerSetState(jobId: string, key: string, state: 'deleted' | 'kept'): Promise<void> {
    const row = this.latestLedgerRow(jobId, key);
    if (state === 'kept' && row.state === 'deleted')
      throw new Error(`ledger of bake ${jobId}: ${row.kind} ${row.id ?? key} is already deleted`);
    this.db
      .prepare('UPDATE ledger SET state = ?, deleted_at = ? WHERE job_id = ? AND pos = ?')
      .run(state, state === 'deleted' ? new Date().toISOString() : null, jobId, row.pos);
  }

  async ledger(jobId: string): Promise<JobLedgerEntry[]> {
    const rows = this.db
      .prepare('SELECT * FROM ledger WHERE job_id = ? ORDER BY pos')
      .all(jobId) as LedgerRow[];
    return rows.map((r) => ({
      key: r.key,
      provider: r.provider,
      kind: r.kind,
      id: r.id,
      ...(r.region ? { region: r.region } : {}),
      state: r.state,
      createdAt: r.created_at,
      deletedAt: r.deleted_at,
      data: JSON.parse(r.data) as Record<string, string>,
    }));
  }

  async stats(since: string): Promise<JobStats> {
    const countsByState: Record<BakeState, number> = {
      queued: 0,
      running: 0,
      succeeded: 0,
      failed: 0,
      cancelled: 0,
    };
    const counts = this.db.prepare('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state').all() as Array<{
      state: BakeState;
      n: number;
    }>;
    for (const { state, n } of counts) countsByState[state] = n;
    const recent = this.db
      .prepare(`SELECT cache_hit, durations FROM jobs WHERE state = 'succeeded' AND finished_at >= ?`)
      .all(since) as Array<{ cache_hit: number; durations: string }>;
    return summarizeStats(
      countsByState,
      recent.map((row) => ({
        cacheHit: Boolean(row.cache_hit),
        durationsMs: JSON.parse(row.durations) as Record<string, number>,
      })),
      since,
    );
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
