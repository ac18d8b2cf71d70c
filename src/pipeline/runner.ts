/**
 * The step runner: Packer-multistep semantics. Steps run in order; every step that started gets its
 * cleanup, in reverse order, whether the run succeeded, failed, timed out or was cancelled. Cleanups
 * are not cancellable: a second Ctrl-C must not leak the instance the first one is tearing down.
 */
import { CancelledError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';

export interface Step<S> {
  name: string;
  /** Per-step limit; the step's signal aborts with a `timed_out` CancelledError when it passes. */
  timeoutMs?: number;
  run(state: S, signal: AbortSignal): Promise<void>;
  cleanup?(state: S): Promise<void>;
}

export interface StepFailure {
  step: string;
  error: unknown;
}

export interface RunOutcome {
  /** Steps whose run finished successfully, in order. */
  completed: string[];
  /** The step that failed, timed out or was interrupted, if any. */
  failure: StepFailure | null;
  /** 'cancelled' (signal) or 'timed_out' (a step's limit) when the run was interrupted. */
  interrupted: 'cancelled' | 'timed_out' | null;
  cleanupErrors: StepFailure[];
}

export interface RunnerOptions {
  signal?: AbortSignal;
  log?: Logger;
  /** How long a step may take to honour an abort before its cleanup starts regardless. */
  abortGraceMs?: number;
  /** Upper bound for one cleanup, so a hung API call cannot block the ones after it forever. */
  cleanupTimeoutMs?: number;
  onStep?: (event: { step: string; phase: 'run' | 'cleanup'; status: 'start' | 'ok' | 'failed' }) => void;
}

export async function runSteps<S>(
  steps: readonly Step<S>[],
  state: S,
  options: RunnerOptions = {},
): Promise<RunOutcome> {
  const started: Step<S>[] = [];
  const outcome: RunOutcome = { completed: [], failure: null, interrupted: null, cleanupErrors: [] };

  for (const step of steps) {
    if (options.signal?.aborted) {
      outcome.interrupted = interruptionOf(options.signal.reason);
      outcome.failure ??= { step: step.name, error: options.signal.reason };
      break;
    }
    started.push(step);
    options.onStep?.({ step: step.name, phase: 'run', status: 'start' });
    try {
      await runOne(step, state, options);
      outcome.completed.push(step.name);
      options.onStep?.({ step: step.name, phase: 'run', status: 'ok' });
    } catch (error) {
      outcome.failure = { step: step.name, error };
      if (error instanceof CancelledError) outcome.interrupted = error.reason;
      options.onStep?.({ step: step.name, phase: 'run', status: 'failed' });
      break;
    }
  }

  for (const step of started.reverse()) {
    if (!step.cleanup) continue;
    options.onStep?.({ step: step.name, phase: 'cleanup', status: 'start' });
    try {
      await withDeadline(
        step.cleanup(state),
        options.cleanupTimeoutMs ?? 10 * 60_000,
        `cleanup of ${step.name}`,
      );
      options.onStep?.({ step: step.name, phase: 'cleanup', status: 'ok' });
    } catch (error) {
      outcome.cleanupErrors.push({ step: step.name, error });
      options.log?.warn(`cleanup of ${step.name} failed: ${errorMessage(error)}`);
      options.onStep?.({ step: step.name, phase: 'cleanup', status: 'failed' });
    }
  }
  return outcome;
}

async function runOne<S>(step: Step<S>, state: S, options: RunnerOptions): Promise<void> {
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
 * Turns the first SIGINT/SIGTERM into an abort of the whole run (CancelledError); later signals only
 * remind the user that teardown is in progress, because exiting then would leak resources.
 */
export function abortOnSignals(log: Logger): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      log.warn(`${name} received: stopping and cleaning up (instances are terminated before exit)`);
      controller.abort(new CancelledError(`cancelled by ${name}`));
    } else {
      log.warn(`${name} received again: still cleaning up, please wait`);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
