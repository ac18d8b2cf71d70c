/**
 * Timed steps inside a stage: each is recorded for the result file (`stages[].steps`), the job summary's
 * chart and the CLI's table, and names itself in the live progress ("Launch: Booting instance").
 */
import { STAGES, type StageName } from '../../common/run-result.js';
import type { RunState } from './state.js';

/** Records a step that already happened (start and duration measured by the caller). */
export function recordStep(
  s: RunState,
  stage: StageName,
  name: string,
  startedAt: number,
  durationMs: number,
): void {
  (s.stageSteps[stage] ??= []).push({
    name,
    startedAt: new Date(startedAt).toISOString(),
    durationMs: Math.max(0, Math.round(durationMs)),
  });
}

/** Announces the step in the progress, runs it and records its timing, whether it succeeds or fails. */
export async function timedStep<T>(
  s: RunState,
  stage: StageName,
  name: string,
  label: string,
  run: () => Promise<T>,
): Promise<T> {
  announceStep(s, stage, label);
  const started = Date.now();
  try {
    return await run();
  } finally {
    recordStep(s, stage, name, started, Date.now() - started);
  }
}

/** Names the running step in the live progress, with the overall fraction at the stage's start. */
export function announceStep(s: RunState, stage: StageName, label: string): void {
  s.ctx.progress({ label, fraction: STAGES.indexOf(stage) / STAGES.length });
}
