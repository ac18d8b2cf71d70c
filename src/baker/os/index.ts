export type { OsPlugin } from './plugin.js';
export * from './families.js';
