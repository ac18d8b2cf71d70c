import { CancelledError } from '../common/errors.js';
import type { Logger } from '../common/log.js';

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
