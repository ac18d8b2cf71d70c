import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); var __filename = __opFileURLToPath(import.meta.url); var __dirname = __opDirname(__filename);
import {
  ConfigError,
  external_exports
} from "./chunk-PCLL46HG.js";

// src/common/host/home.ts
import { homedir } from "node:os";
import { join, resolve } from "node:path";
function ovenproofHome(env = process.env) {
  return env.OVENPROOF_HOME ? resolve(env.OVENPROOF_HOME) : join(homedir(), ".cache", "ovenproof");
}

// src/providers/local/entry.ts
var localSettingsSchema = external_exports.object({
  /** The image store, volumes, instances and scratch folders live below it. */
  home: external_exports.string().min(1)
});
var localProviderEntry = {
  name: "local",
  defaults: { baseImage: "debian-12", sshUser: "root" },
  settingsFrom: (_config, env) => ({ home: ovenproofHome(env) }),
  async create(settings, log) {
    const parsed = localSettingsSchema.safeParse(settings);
    if (!parsed.success)
      throw new ConfigError(`local provider setting home: ${parsed.error.issues[0]?.message}`);
    const { createLocalProvider } = await import("./local-YTV7BJFC.js");
    return createLocalProvider({ home: parsed.data.home, log });
  }
};

// src/common/atomic-file.ts
import { open, rename, mkdir, unlink } from "node:fs/promises";
import { dirname, basename, join as join2 } from "node:path";
import { randomBytes } from "node:crypto";
async function writeFileAtomic(path, data, mode = 384) {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join2(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
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
  ovenproofHome,
  localProviderEntry
};
//# sourceMappingURL=chunk-XKDOAQPN.js.map
