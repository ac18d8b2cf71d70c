import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); const __filename = __opFileURLToPath(import.meta.url); const __dirname = __opDirname(__filename);

// src/common/log.ts
var silentLogger = {
  info: () => void 0,
  warn: () => void 0,
  debug: () => void 0,
  mask: () => void 0
};

export {
  silentLogger
};
//# sourceMappingURL=chunk-U4BSFJDG.js.map
