import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); const __filename = __opFileURLToPath(import.meta.url); const __dirname = __opDirname(__filename);
import {
  EXPIRES_TAG,
  ImageStore,
  KEPT_TAG,
  KERNEL_CMDLINE,
  LocalProvider,
  Privileged,
  buildBaseImage,
  createLocalProvider,
  defaultHome,
  localPaths,
  parseImageQuery,
  runCommand
} from "./chunk-SQF4HNHE.js";
import "./chunk-VLLWPT5D.js";
import "./chunk-D6AMY7HW.js";
import "./chunk-DDK2HIRZ.js";
import "./chunk-KZMJUW2X.js";
export {
  EXPIRES_TAG,
  ImageStore,
  KEPT_TAG,
  KERNEL_CMDLINE,
  LocalProvider,
  Privileged,
  buildBaseImage,
  createLocalProvider,
  defaultHome,
  localPaths,
  parseImageQuery,
  runCommand
};
//# sourceMappingURL=local-U2URJDDU.js.map
