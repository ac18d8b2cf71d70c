import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); var __filename = __opFileURLToPath(import.meta.url); var __dirname = __opDirname(__filename);
import {
  debug,
  getState,
  info,
  saveState,
  setSecret,
  warning
} from "./chunk-Y7RYAHEK.js";
import {
  secretLines
} from "./chunk-PCLL46HG.js";

// src/action/logger.ts
var actionsLogger = {
  info: (message) => info(message),
  warn: (message) => warning(message),
  debug: (message) => debug(message),
  mask: (secret) => {
    for (const line of secretLines(secret)) setSecret(line);
  }
};

// src/action/state.ts
var LEDGER_PATH = "ledgerPath";
function saveLedgerPath(path) {
  saveState(LEDGER_PATH, path);
}
function savedLedgerPath() {
  return getState(LEDGER_PATH) || null;
}

export {
  actionsLogger,
  saveLedgerPath,
  savedLedgerPath
};
//# sourceMappingURL=chunk-WUYR54Q3.js.map
