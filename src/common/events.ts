/**
 * Progress events the pipeline emits and any number of reporters (console, check run, job summary)
 * subscribe to. Lives below the pipeline so that src/report can consume it without importing upward.
 */
import type { StageName } from './run-result.js';

export type PipelineEvent =
  | { type: 'stage-start'; stage: StageName; at: number }
  | {
      type: 'stage-end';
      stage: StageName;
      status: 'ok' | 'failed' | 'skipped';
      at: number;
      durationMs: number;
    }
  /** A sub-step inside the current stage ("Mounting volume") with overall progress 0..1. */
  | { type: 'progress'; stage: StageName; label: string; fraction: number; at: number }
  /** A line of command output (build log, test output) for log groups / streaming. */
  | { type: 'output'; stage: StageName; stream: 'stdout' | 'stderr'; text: string };

export type PipelineListener = (event: PipelineEvent) => void;
