/**
 * The one step runner (Packer's multistep model), used by the pipeline's stages and by both bake
 * strategies. Steps run in order over a shared state; every step that started gets its cleanup, in
 * reverse order, whether the run succeeded, failed, timed out or was cancelled.
 *
 * Abort policy: a step receives an AbortSignal (the run's signal, plus its own `timeoutMs`). Once that
 * signal fires, the step has `abortGraceMs` to stop on its own; after that the runner stops waiting for it
 * and moves on to the cleanups. Cleanups are not cancellable (a second Ctrl-C must not leak what the
 * first one is tearing down), but each has its own time limit so one hung call cannot block the rest.
 *
 * Progress, timings and test hooks are listeners: the runner itself only runs and undoes steps.
 */
import { CancelledError, errorMessage } from './errors.js';
import type { Logger } from './log.js';

export interface Step<S> {
  /** Stable id: names the step in timings, result files and test hooks. */
  name: string;
  /** What the user sees while it runs ("Mounting volume"); defaults to the name. */
  label?: string;
  /** Relative share of the whole run's wall time, for progress fractions (default 1). */
  weight?: number;
  /** Per-step limit; the step's signal aborts with a `timed_out` CancelledError when it passes. */
  timeoutMs?: number;
  run(state: S, signal: AbortSignal): Promise<void>;
  cleanup?(state: S): Promise<void>;
}

export interface StepFailure {
  step: string;
  error: unknown;
}

/** When a step started and how long its run took (the result file's `stages[].steps`). */
export interface StepTiming {
  name: string;
  startedAt: string;
  durationMs: number;
}

export interface RunOutcome {
  /** Steps whose run finished successfully, in order. */
  completed: string[];
  /** Every step that started, with its run's duration (failed ones included). */
  timings: StepTiming[];
  /** The step that failed, timed out or was interrupted, if any. */
  failure: StepFailure | null;
  /** 'cancelled' (signal) or 'timed_out' (a step's limit) when the run was interrupted. */
  interrupted: 'cancelled' | 'timed_out' | null;
  cleanupErrors: StepFailure[];
}

/** Observers of a run. The runner awaits them, so a test hook may hold a run at a step. */
export interface StepListener<S> {
  stepStarted?(step: Step<S>, index: number): void | Promise<void>;
  stepFinished?(step: Step<S>, result: { ok: boolean; timing: StepTiming }): void | Promise<void>;
  cleanupStarted?(step: Step<S>): void | Promise<void>;
  cleanupFinished?(step: Step<S>, error: unknown): void | Promise<void>;
}

export interface RunnerOptions<S> {
  signal?: AbortSignal;
  log?: Logger;
  /** How long a step may take to honour an abort before its cleanup starts regardless (default 10 s). */
  abortGraceMs?: number;
  /** Upper bound for one cleanup (default 10 min). */
  cleanupTimeoutMs?: number;
  listeners?: ReadonlyArray<StepListener<S>>;
}

export async function runSteps<S>(
  steps: readonly Step<S>[],
  state: S,
  options: RunnerOptions<S> = {},
): Promise<RunOutcome> {
  const listeners = options.listeners ?? [];
  const started: Step<S>[] = [];
  const outcome: RunOutcome = {
    completed: [],
    timings: [],
    failure: null,
    interrupted: null,
    cleanupErrors: [],
  };

  for (const [index, step] of steps.entries()) {
    if (options.signal?.aborted) {
      const reason = options.signal.reason ?? new CancelledError(`cancelled before ${step.name}`);
      outcome.interrupted = interruptionOf(reason);
      outcome.failure = { step: step.name, error: reason };
      break;
    }
    started.push(step);
    for (const listener of listeners) await listener.stepStarted?.(step, index);
    const startedAt = Date.now();
    let error: unknown = null;
    try {
      await runOne(step, state, options);
    } catch (thrown) {
      error = thrown ?? new Error(`${step.name} failed`);
    }
    const timing = {
      name: step.name,
      startedAt: new Date(startedAt).toISOString(),
      durationMs: Date.now() - startedAt,
    };
    outcome.timings.push(timing);
    for (const listener of listeners) await listener.stepFinished?.(step, { ok: error === null, timing });
    if (error !== null) {
      outcome.failure = { step: step.name, error };
      if (error instanceof CancelledError) outcome.interrupted = error.reason;
      break;
    }
    outcome.completed.push(step.name);
  }

  for (const step of started.reverse()) {
    if (!step.cleanup) continue;
    for (const listener of listeners) await listener.cleanupStarted?.(step);
    let error: unknown = null;
    try {
      await withDeadline(
        step.cleanup(state),
        options.cleanupTimeoutMs ?? 10 * 60_000,
        `cleanup of ${step.name}`,
      );
    } catch (thrown) {
      // Keep undoing the other steps: one stuck resource must not leak all the ones below it.
      error = thrown ?? new Error(`cleanup of ${step.name} failed`);
      outcome.cleanupErrors.push({ step: step.name, error });
      options.log?.warn(`cleanup of ${step.label ?? step.name} failed: ${errorMessage(error)}`);
    }
    for (const listener of listeners) await listener.cleanupFinished?.(step, error);
  }
  return outcome;
}

async function runOne<S>(step: Step<S>, state: S, options: RunnerOptions<S>): Promise<void> {
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const timer =
    step.timeoutMs === undefined
      ? undefined
      : setTimeout(
          () =>
            controller.abort(
              new CancelledError(`${step.name} timed out after ${step.timeoutMs} ms`, 'timed_out'),
            ),
          step.timeoutMs,
        );
  try {
    const running = step.run(state, controller.signal);
    // A step that ignores its signal must not hold up teardown: once aborted, give it a grace period
    // to stop on its own, then proceed with the abort reason as its failure.
    const aborted = new Promise<never>((_, reject) => {
      const fail = () => {
        const reason = controller.signal.reason ?? new CancelledError(`${step.name} was cancelled`);
        setTimeout(() => reject(reason), options.abortGraceMs ?? 10_000).unref();
        running.then(
          () => reject(reason),
          () => reject(reason),
        );
      };
      if (controller.signal.aborted) fail();
      else controller.signal.addEventListener('abort', fail, { once: true });
    });
    aborted.catch(() => undefined);
    await Promise.race([running, aborted]);
    if (controller.signal.aborted) throw controller.signal.reason;
  } finally {
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
}

function interruptionOf(reason: unknown): 'cancelled' | 'timed_out' {
  return reason instanceof CancelledError ? reason.reason : 'cancelled';
}

async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reports progress as the fraction of step weight done, mapped onto [from, to] (a bake is one part of
 * a longer run). The last step's label is repeated at `to` when the run completes.
 */
export function progressListener<S>(
  steps: readonly Step<S>[],
  report: (label: string, fraction: number) => void,
  range: { from?: number; to?: number } = {},
): StepListener<S> {
  const total = steps.reduce((sum, s) => sum + (s.weight ?? 1), 0) || 1;
  const from = range.from ?? 0;
  const to = range.to ?? 1;
  let done = 0;
  return {
    stepStarted(step) {
      report(step.label ?? step.name, from + ((to - from) * done) / total);
    },
    stepFinished(step, { ok }) {
      if (!ok) return;
      done += step.weight ?? 1;
      if (step === steps.at(-1)) report(step.label ?? step.name, to);
    },
  };
}
