export { parsePathMap, findRepoRoot, RepoLocator, trackedFiles, type PathMapping } from './locate.js';
export { extractFrames, type Frame } from './stack.js';
export { oneLine } from './text.js';
export { DEFAULT_MAX_BYTES } from './read.js';
export * from './summarize.js';
