import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); var __filename = __opFileURLToPath(import.meta.url); var __dirname = __opDirname(__filename);
import {
  LocalProvider,
  createLocalProvider
} from "./chunk-QDQYPQ2K.js";
import {
  EXPIRES_TAG,
  ImageStore,
  KEPT_TAG,
  KERNEL_CMDLINE,
  buildBaseImage,
  localPaths,
  parseImageQuery
} from "./chunk-7QS4KJ3B.js";
import {
  localProviderEntry
} from "./chunk-HPMFDYTQ.js";
import "./chunk-LYOAGV5W.js";
import "./chunk-G7ER4NJZ.js";
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
//# sourceMappingURL=local-F2RBKQXK.js.map
