export type { PackageContent, PackageDigester } from './types.js';
export { MalformedArchiveError } from './ar.js';
export { digesterFor, packageContent } from './content.js';
