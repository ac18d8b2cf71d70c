/**
 * Runs a bake's step list on the common runner: progress goes to the run's progress sink, each step's
 * duration into the outcome, and the optional test hook pauses the bake around a step.
 */
import {
  runSteps,
  progressListener,
  type Step,
  type StepListener,
  type StepTiming,
} from '../../common/steps.js';
import { errorMessage } from '../../common/errors.js';
import type { BakeState } from './state.js';

/** Called before and after every bake step; the kill tests pause here to SIGKILL a bake mid-step. */
export type StepHook = (step: string, phase: 'start' | 'end') => Promise<void> | void;

/** How long a bake step may take to honour a cancel before its cleanups start regardless. */
const BAKE_ABORT_GRACE_MS = 30_000;

export async function runBakeSteps<S extends BakeState>(
  steps: readonly Step<S>[],
  state: S,
  hook?: StepHook,
): Promise<StepTiming[]> {
  const { ctx } = state;
  const listeners: StepListener<S>[] = [
    progressListener(steps, (label, fraction) => ctx.progress({ label, fraction })),
  ];
  if (hook) {
    listeners.push({
      stepStarted: (step) => hook(step.name, 'start'),
      stepFinished: async (step, { ok }) => {
        if (ok) await hook(step.name, 'end');
      },
    });
  }
  const outcome = await runSteps(steps, state, {
    signal: ctx.signal,
    log: ctx.log,
    abortGraceMs: BAKE_ABORT_GRACE_MS,
    listeners,
  });
  if (outcome.failure) throw outcome.failure.error;
  if (outcome.cleanupErrors.length) {
    const labels = new Map(steps.map((s) => [s.name, s.label ?? s.name]));
    const details = outcome.cleanupErrors.map((e) => `${labels.get(e.step)}: ${errorMessage(e.error)}`);
    throw new Error(`bake finished but cleanup failed: ${details.join('; ')}`);
  }
  return outcome.timings;
}
