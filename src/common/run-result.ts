/**
 * The result JSON of SPEC §2.3: written by the pipeline (`run --result-json`, Action output
 * `result-json`), read by the reporters and by `ovenproof publish`.
 */
import type { TestsSummary } from '../results/model.js';
import type { ProviderName, ResourceKind } from '../providers/provider.js';

export type StageName = 'build' | 'bake' | 'launch' | 'test' | 'report' | 'teardown';
export const STAGES: readonly StageName[] = ['build', 'bake', 'launch', 'test', 'report', 'teardown'];

export interface StageRecord {
  name: StageName;
  status: 'ok' | 'failed' | 'skipped';
  startedAt: string;
  durationMs: number;
}

export interface RunResult {
  status: 'passed' | 'failed' | 'error';
  error: null | { stage: string; message: string };
  provider: ProviderName;
  commit: string | null;
  image: null | {
    id: string;
    baseImageId: string;
    bakeKey: string;
    cacheHit: boolean;
    kept: boolean;
    /** Copies of a kept image in the extra `regions` (EC2). */
    copies?: Array<{ region: string; id: string }>;
  };
  instance: null | { id: string; address: string };
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
