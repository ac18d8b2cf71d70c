/**
 * One base image for every suite that needs a local VM: built on first use with the real
 * `base build` code path, then reused from the image store under $OVENPROOF_HOME (default
 * ~/.cache/ovenproof), which a cache hit returns in milliseconds.
 */
import type { ImageManifest } from '../../src/providers/provider.js';
import { createLocalProvider, type LocalProvider } from '../../src/providers/local/index.js';

export function localTestProvider(): LocalProvider {
  return createLocalProvider({
    log: {
      info: (m) => process.stderr.write(`[local] ${m}\n`),
      warn: (m) => process.stderr.write(`[local] warning: ${m}\n`),
      debug: () => undefined,
      mask: () => undefined,
    },
  });
}

let pending: Promise<ImageManifest> | null = null;

export function ensureBaseImage(): Promise<ImageManifest> {
  pending ??= localTestProvider()
    .buildBaseImage({})
    .then((result) => result.image);
  return pending;
}
