/**
 * Deletes whatever a ledger still shows as live, newest first, through the provider that created it.
 * Used by the Action's post step and `ovenproof sweep --ledger FILE` after a crash or a kill.
 */
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { LedgerEntry, Provider, ProviderName } from '../providers/provider.js';
import type { Ledger } from './ledger.js';

export interface LedgerCleanupReport {
  deleted: LedgerEntry[];
  failed: Array<{ entry: LedgerEntry; message: string }>;
}

export async function cleanupLedger(
  ledger: Ledger,
  providerFor: (name: ProviderName) => Promise<Provider>,
  log: Logger,
  options: { dryRun?: boolean; includeKept?: boolean } = {},
): Promise<LedgerCleanupReport> {
  const report: LedgerCleanupReport = { deleted: [], failed: [] };
  const entries = options.includeKept ? ledger.liveOrKept() : ledger.live();
  for (const entry of entries) {
    const label = `${entry.kind} ${entry.id ?? entry.key}`;
    if (options.dryRun) {
      log.info(`would delete ${label}`);
      report.deleted.push(entry);
      continue;
    }
    try {
      const provider = await providerFor(entry.provider);
      await provider.deleteResource(entry, log);
      await ledger.deleted(entry.key);
      report.deleted.push(entry);
      log.info(`deleted ${label}`);
    } catch (error) {
      // Keep going: one stuck resource must not shield the others from cleanup.
      report.failed.push({ entry, message: errorMessage(error) });
      log.warn(`could not delete ${label}: ${errorMessage(error)}`);
    }
  }
  return report;
}
