/**
 * Deletes whatever a ledger still shows as live, newest first (dependents before what they depend
 * on), through the provider that created it. Every entry is tried; those that failed get a second
 * try once the others are gone (a group still held by an instance deleted after it). Used by the
 * Action's post step, `ovenproof sweep --ledger FILE` and the pipeline's safety net.
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
  if (options.dryRun) {
    for (const entry of entries) log.info(`would delete ${entry.kind} ${entry.id ?? entry.key}`);
    return { deleted: entries, failed: [] };
  }
  let pending = entries;
  for (let pass = 1; pass <= 2 && pending.length > 0; pass += 1) {
    const failed: LedgerCleanupReport['failed'] = [];
    for (const entry of pending) {
      const label = `${entry.kind} ${entry.id ?? entry.key}`;
      try {
        const provider = await providerFor(entry.provider);
        const found = await provider.deleteResource(entry, log);
        // A resource whose create answer was lost is recorded under the id the provider found.
        if (!entry.id && typeof found === 'string') await ledger.created(entry.key, found);
        await ledger.deleted(entry.key);
        report.deleted.push(entry);
        log.info(`deleted ${entry.kind} ${entry.id ?? `${entry.key} (never created)`}`);
      } catch (error) {
        // Keep going: one stuck resource must not shield the others from cleanup.
        failed.push({ entry, message: errorMessage(error) });
        if (pass === 2) log.warn(`could not delete ${label}: ${errorMessage(error)}`);
        else
          log.debug(`could not delete ${label} yet (tried again after the others): ${errorMessage(error)}`);
      }
    }
    pending = failed.map((f) => f.entry);
    report.failed = failed;
  }
  return report;
}
