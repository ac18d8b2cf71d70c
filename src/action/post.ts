/**
 * The Action's post step: runs even when the main step failed, was cancelled or was killed, and
 * deletes whatever the run's ledger still shows as live (the second cleanup layer, after the run's own teardown).
 */
import * as core from '@actions/core';
import { existsSync } from 'node:fs';
import { errorMessage } from '../common/errors.js';
import { cleanupLedger } from '../pipeline/cleanup.js';
import { Ledger } from '../pipeline/ledger.js';
import { createProvider, type ProviderSettings } from '../pipeline/providers.js';
import { actionsLogger as log } from './logger.js';
import { savedLedgerPath } from './state.js';

async function post(): Promise<void> {
  const path = savedLedgerPath();
  if (!path || !existsSync(path)) {
    core.info('ovenproof post: no ledger from the main step, nothing to clean up');
    return;
  }
  const ledger = await Ledger.open(path);
  const live = ledger.live();
  if (live.length === 0) {
    core.info('ovenproof post: every resource of this run was already cleaned up');
    return;
  }
  core.info(`ovenproof post: ${live.length} resource(s) still live after the main step; deleting them`);
  const settings = ledger.providerOptions as unknown as ProviderSettings;
  const report = await cleanupLedger(ledger, () => createProvider(settings, log), log);
  if (report.failed.length > 0) {
    core.setFailed(
      `ovenproof post: could not delete ${report.failed.map((f) => `${f.entry.kind} ${f.entry.id ?? f.entry.key}: ${f.message}`).join('; ')}. ` +
        `The ledger is ${path}; \`npx ovenproof sweep --ledger ${path}\` tries again from it, and ` +
        'everything carries an ovenproof:expires-at tag, so `ovenproof sweep` removes it once expired',
    );
  }
}

try {
  await post();
} catch (error) {
  core.setFailed(`ovenproof post: ${errorMessage(error)}`);
}
