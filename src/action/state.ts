/**
 * What the main step hands to the post step (core.saveState), in the style of actions/checkout's
 * state helper: the post step only needs the ledger to clean up what main may have left.
 */
import * as core from '@actions/core';

const LEDGER_PATH = 'ledgerPath';

export function saveLedgerPath(path: string): void {
  core.saveState(LEDGER_PATH, path);
}

export function savedLedgerPath(): string | null {
  return core.getState(LEDGER_PATH) || null;
}
