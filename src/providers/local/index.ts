export { buildBaseImage, KERNEL_CMDLINE } from './base-image.js';
export type { BaseBuildOptions, BaseBuildResult } from './base-image.js';
export { ImageStore, parseImageQuery, KEPT_TAG, EXPIRES_TAG } from './store.js';
export { localPaths } from './paths.js';
export { localProviderEntry } from './entry.js';
export type { LocalPaths } from './paths.js';
export * from './provider.js';
