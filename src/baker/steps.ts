/**
 * A small Packer-multistep runner: steps run in order; every step that started gets its `cleanup` run,
 * in reverse order, whether the bake succeeded, failed or was aborted. Cleanups are idempotent and look at
 * the shared state to see what is still there, so a forward step that already released a resource
 * (e.g. "Unmounting volume") leaves its cleanup nothing to do.
 */
import { CancelledError, errorMessage } from '../common/errors.js';
import type { RunContext } from '../providers/provider.js';

export interface Step<S> {
  /** Stable id: keys `durationsMs` and the test hooks. */
  name: string;
  /** What the user sees ("Mounting volume"). */
  label: string;
  /** Relative share of the bake's wall time, for the progress fraction. */
  weight: number;
  run(state: S, ctx: RunContext): Promise<void>;
  cleanup?(state: S, ctx: RunContext): Promise<void>;
}

/** Called around every step; the kill tests pause here to SIGKILL a bake while a step's resources exist. */
export type StepHook = (step: string, phase: 'start' | 'end') => Promise<void> | void;

export interface StepRunOptions {
  hook?: StepHook;
  /** Offsets the progress fraction when these steps are only part of a bake. */
  fractionStart?: number;
  fractionEnd?: number;
}

export async function runSteps<S>(
  steps: readonly Step<S>[],
  state: S,
  ctx: RunContext,
  durationsMs: Record<string, number>,
  options: StepRunOptions = {},
): Promise<void> {
  const total = steps.reduce((sum, s) => sum + s.weight, 0) || 1;
  const from = options.fractionStart ?? 0;
  const to = options.fractionEnd ?? 1;
  const started: Step<S>[] = [];
  let done = 0;
  let failure: unknown = null;
  try {
    for (const step of steps) {
      if (ctx.signal.aborted) throw new CancelledError(`bake cancelled before "${step.label}"`);
      ctx.progress({ label: step.label, fraction: from + ((to - from) * done) / total });
      started.push(step);
      await options.hook?.(step.name, 'start');
      const t0 = performance.now();
      await step.run(state, ctx);
      durationsMs[step.name] = Math.round(performance.now() - t0);
      await options.hook?.(step.name, 'end');
      done += step.weight;
    }
  } catch (error) {
    failure = error;
  }
  const cleanupErrors: string[] = [];
  for (const step of started.reverse()) {
    if (!step.cleanup) continue;
    try {
      await step.cleanup(state, ctx);
    } catch (error) {
      // Keep undoing the other steps: one stuck resource must not leak all the ones below it.
      cleanupErrors.push(`${step.label}: ${errorMessage(error)}`);
      ctx.log.warn(`cleanup of "${step.label}" failed: ${errorMessage(error)}`);
    }
  }
  if (failure) throw failure;
  if (cleanupErrors.length) throw new Error(`bake finished but cleanup failed: ${cleanupErrors.join('; ')}`);
  ctx.progress({ label: steps.at(-1)?.label ?? 'Done', fraction: to });
}
