import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); const __filename = __opFileURLToPath(import.meta.url); const __dirname = __opDirname(__filename);

// src/common/log.ts
var silentLogger = {
  info: () => void 0,
  warn: () => void 0,
  debug: () => void 0,
  mask: () => void 0
};
function secretLines(secret) {
  return secret.split(/\r?\n/).map((line) => line.trim()).filter((line) => line.length >= 4);
}

// src/common/atomic-file.ts
import { open, rename, mkdir, unlink } from "node:fs/promises";
import { dirname, basename, join } from "node:path";
import { randomBytes } from "node:crypto";
async function writeFileAtomic(path, data, mode = 384) {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const handle = await open(tmp, "w", mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, path);
  } catch (error) {
    await unlink(tmp).catch(() => void 0);
    throw error;
  }
  const dirHandle = await open(dir, "r");
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

export {
  writeFileAtomic,
  silentLogger,
  secretLines
};
//# sourceMappingURL=chunk-VLLWPT5D.js.map
