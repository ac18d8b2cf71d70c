export { BAKE_FORMAT_VERSION, computeBakeKey, type BakeKeyInput } from './bake-key.js';
export { packageContent, type PackageContent } from './package-digest/index.js';
export { selectBaseImage, parseBaseImageRef, resolveBaseImage, type BaseImageRef } from './base-image.js';
export { COMMON_HYGIENE, hygieneScript, type HygieneSpec } from './hygiene.js';
export { osPluginFor, type OsPlugin } from './os/index.js';
export { VOLUME_STEP_NAMES } from './volume-bake.js';
export { INSTANCE_STEP_NAMES } from './instance-bake.js';
export type { StepHook } from './steps/run.js';
export * from './bake.js';
