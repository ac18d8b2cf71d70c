import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); var __filename = __opFileURLToPath(import.meta.url); var __dirname = __opDirname(__filename);
import {
  LocalProvider,
  createLocalProvider
} from "./chunk-BDJNP7VM.js";
import {
  EXPIRES_TAG,
  ImageStore,
  KEPT_TAG,
  KERNEL_CMDLINE,
  buildBaseImage,
  localPaths,
  parseImageQuery
} from "./chunk-B6ADKNZ7.js";
import {
  localProviderEntry
} from "./chunk-4S5Y4ACJ.js";
import "./chunk-JO6QWFH4.js";
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
//# sourceMappingURL=local-ZPR33XUA.js.map
