/**
 * The bakery's data model: what a client asks for, the job that bakes it, the events it emits and the
 * resources it creates. Shared by the job store implementations, the server and the HTTP client.
 */
import type { LedgerEntry } from '../providers/provider.js';

export type BakeState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const ACTIVE_STATES: readonly BakeState[] = ['queued', 'running'];
export const FINAL_STATES: readonly BakeState[] = ['succeeded', 'failed', 'cancelled'];

/** The body of `POST /v1/bakes`. */
export interface BakeRequestBody {
  baseImage: string;
  packages: string[];
  /** sha256 digests of files uploaded with `POST /v1/files`. */
  files: string[];
  provisionScript?: string;
  strategy?: 'auto' | 'volume' | 'instance';
  region?: string;
  /** The region of the bakery that forwarded this request to its peer; a forwarded request stays here. */
  forwardedBy?: string;
}

export interface BakedImage {
  id: string;
  name: string;
  baseImageId: string;
  createdAt: string;
  tags: Record<string, string>;
  /** Set when a peer bakery baked it (a relayed request): that bakery's region, URL and bake id. */
  peer?: { region: string; url: string; bake: string };
}

/** One bake job as `GET /v1/bakes/:id` shows it. */
export interface BakeJob {
  id: string;
  state: BakeState;
  bakeKey: string;
  request: BakeRequestBody;
  /** Who asked: `token:NAME` or `owner/repo@sha` from an OIDC token. */
  requestedBy: string;
  /** Label of the current or last step ("Mounting volume"). */
  step: string | null;
  progress: number;
  image: BakedImage | null;
  error: { message: string } | null;
  cacheHit: boolean;
  /** Duration of each bake step in milliseconds, once finished. */
  durationsMs: Record<string, number>;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Last sign of life of the bakery running it; a stale heartbeat marks a bake whose bakery died. */
  heartbeatAt: string | null;
  /** The bakery process that runs it (`host:pid:start`). */
  owner: string | null;
}

export type BakeEventType = 'state' | 'step' | 'progress' | 'log' | 'done';

export interface BakeEvent {
  /** 1, 2, 3… per job: the SSE event id a reconnecting client resumes after. */
  seq: number;
  type: BakeEventType;
  data: Record<string, unknown>;
  at: string;
}

export type JobLedgerEntry = LedgerEntry;

/** What `GET /v1/bakes/:id` returns: the job without its internal bookkeeping. */
export function publicJob(job: BakeJob): Record<string, unknown> {
  return {
    id: job.id,
    state: job.state,
    bakeKey: job.bakeKey,
    step: job.step,
    progress: job.progress,
    image: job.image,
    error: job.error,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    cacheHit: job.cacheHit,
    requestedBy: job.requestedBy,
    request: job.request,
    durationsMs: job.durationsMs,
  };
}
