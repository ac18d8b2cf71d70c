import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); var __filename = __opFileURLToPath(import.meta.url); var __dirname = __opDirname(__filename);
import {
  actionsLogger,
  savedLedgerPath
} from "./chunks/chunk-WUYR54Q3.js";
import {
  Ledger,
  cleanupLedger,
  createProvider,
  info,
  setFailed
} from "./chunks/chunk-Y7RYAHEK.js";
import "./chunks/chunk-X3PL5BMF.js";
import "./chunks/chunk-XKDOAQPN.js";
import {
  errorMessage
} from "./chunks/chunk-PCLL46HG.js";
import "./chunks/chunk-DFPXC7JI.js";

// src/action/post.ts
import { existsSync } from "node:fs";
async function post() {
  const path = savedLedgerPath();
  if (!path || !existsSync(path)) {
    info("ovenproof post: no ledger from the main step, nothing to clean up");
    return;
  }
  const ledger = await Ledger.open(path);
  const live = ledger.live();
  if (live.length === 0) {
    info("ovenproof post: every resource of this run was already cleaned up");
    return;
  }
  info(`ovenproof post: ${live.length} resource(s) still live after the main step; deleting them`);
  const settings = ledger.providerOptions;
  const report = await cleanupLedger(ledger, () => createProvider(settings, actionsLogger), actionsLogger);
  if (report.failed.length > 0) {
    setFailed(
      `ovenproof post: could not delete ${report.failed.map((f) => `${f.entry.kind} ${f.entry.id ?? f.entry.key}: ${f.message}`).join("; ")}. The ledger is ${path}; \`npx ovenproof sweep --ledger ${path}\` tries again from it, and everything carries an ovenproof:expires-at tag, so \`ovenproof sweep\` removes it once expired`
    );
  }
}
try {
  await post();
} catch (error) {
  setFailed(`ovenproof post: ${errorMessage(error)}`);
}
//# sourceMappingURL=post.js.map
