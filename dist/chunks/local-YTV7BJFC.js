import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); var __filename = __opFileURLToPath(import.meta.url); var __dirname = __opDirname(__filename);
import {
  LocalProvider,
  createLocalProvider
} from "./chunk-OOFDLYCT.js";
import {
  EXPIRES_TAG,
  ImageStore,
  KEPT_TAG,
  KERNEL_CMDLINE,
  buildBaseImage,
  localPaths,
  parseImageQuery
} from "./chunk-MVO3AHNY.js";
import {
  localProviderEntry
} from "./chunk-XKDOAQPN.js";
import "./chunk-FIUEXO6L.js";
import "./chunk-PCLL46HG.js";
import "./chunk-DFPXC7JI.js";
export {
  EXPIRES_TAG,
  ImageStore,
  KEPT_TAG,
  KERNEL_CMDLINE,
  LocalProvider,
  buildBaseImage,
  createLocalProvider,
  localPaths,
  localProviderEntry,
  parseImageQuery
};
//# sourceMappingURL=local-YTV7BJFC.js.map
