import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); const __filename = __opFileURLToPath(import.meta.url); const __dirname = __opDirname(__filename);
import {
  errorMessage
} from "./chunk-DDK2HIRZ.js";

// src/pipeline/cleanup.ts
async function cleanupLedger(ledger, providerFor, log, options = {}) {
  const report = { deleted: [], failed: [] };
  for (const entry of ledger.live()) {
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
      report.failed.push({ entry, message: errorMessage(error) });
      log.warn(`could not delete ${label}: ${errorMessage(error)}`);
    }
  }
  return report;
}

export {
  cleanupLedger
};
//# sourceMappingURL=chunk-JESN4FUZ.js.map
