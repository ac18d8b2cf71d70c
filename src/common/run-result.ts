/**
 * The shared vocabulary of a run and its result file: stage names, resource kinds, provider names and
 * the result types. Written by the pipeline (`run --result-json`, Action output `result-json`), read by
 * the reporters and by `ovenproof publish`; the result-file schema is built from these lists.
 */
import type { StepTiming } from './steps.js';
import type { RunCost } from './cost.js';

export const STAGES = ['build', 'bake', 'launch', 'test', 'report', 'teardown'] as const;
export type StageName = (typeof STAGES)[number];

export const RESOURCE_KINDS = [
  'instance',
  'volume',
  'attachment', // a volume attached to the baker host: a loop device locally, an EBS attachment on EC2
  'mount',
  'snapshot',
  'image',
  'key',
  'security-group',
  'file',
  'process',
] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/**
 * The name a provider is registered under (`local`, `ec2`, …). The provider registry is the one list
 * of them, so adding a provider needs no change here.
 */
export type ProviderName = string;
/** What a provider name looks like: lowercase letters, digits and dashes. */
export const PROVIDER_NAME_PATTERN = /^[a-z][a-z0-9-]*$/;

export const STAGE_STATUSES = ['ok', 'failed', 'skipped'] as const;
export const RUN_STATUSES = ['passed', 'failed', 'error'] as const;

export interface StageRecord {
  name: StageName;
  status: (typeof STAGE_STATUSES)[number];
  startedAt: string;
  durationMs: number;
  /** The stage's own steps, where it reports them (the bake's copy, mount, install…; the launch's restore, identity, ssh). */
  steps?: StepTiming[];
}

/** A failing test located in the repository; `file` is repository-relative or null. */
export interface TestFailure {
  name: string;
  suite: string;
  file: string | null;
  line: number | null;
  message: string;
  details: string;
}

/** The run's test counts. `failed` counts both failed and errored cases. */
export interface TestsSummary {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  failures: TestFailure[];
}

/** Files on the machine that ran the pipeline, written when an instance is kept (keep-instance). */
export interface DebugSsh {
  user: string;
  host: string;
  port: number;
  /** The run's client private key (mode 0600) and a known_hosts line pinning the instance's host key. */
  privateKeyFile: string;
  knownHostsFile: string;
}

export interface RunResult {
  status: (typeof RUN_STATUSES)[number];
  error: null | { stage: string; message: string };
  provider: ProviderName;
  commit: string | null;
  image: null | {
    id: string;
    baseImageId: string;
    bakeKey: string;
    cacheHit: boolean;
    /** On a cache hit, the run that baked the image (when the image records it). */
    reusedFromRun: string | null;
    /** The image outlives the run: promoted, or kept in the bake cache until `expiresAt`. */
    kept: boolean;
    /** URL of the bakery that baked (or reused) the image; null when baked in-process. */
    bakedBy?: string | null;
    /** Tagged `ovenproof:kept=true` by keep-image (now or by an earlier run): never swept or pruned. */
    promoted: boolean;
    /** Expiry of the bake-cache entry (pushed forward on every hit); null when promoted. */
    expiresAt: string | null;
    /** Copies of a kept image in the extra `regions` (EC2). */
    copies?: Array<{ region: string; id: string }>;
  };
  instance: null | {
    id: string;
    address: string;
    /** How a local instance came up: a cold boot, or restored from the image's warm snapshot. */
    boot?: 'cold' | 'restored';
    /** Set when the instance was kept for debugging: what `ovenproof ssh --result-json` connects with. */
    debugSsh?: DebugSsh;
  };
  /** The failing instance's disk, kept until `expiresAt` for `ovenproof reproduce`. */
  failureImage?: null | { id: string; expiresAt: string };
  cost?: RunCost;
  stages: StageRecord[];
  tests: TestsSummary;
  annotations: number;
  resources: Array<{
    kind: ResourceKind;
    id: string;
    createdAt: string;
    deletedAt: string | null;
    kept: boolean;
  }>;
}
