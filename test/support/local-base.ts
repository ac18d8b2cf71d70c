/**
 * One base image for every suite that needs a local VM: built on first use with the real
 * `base build` code path, then reused from the image store under $OVENPROOF_HOME (default
 * ~/.cache/ovenproof), which a cache hit returns in milliseconds.
 */
import { copyFileSync, linkSync, mkdirSync, mkdtempSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ovenproofHome } from '../../src/common/host/home.js';
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

/**
 * A fresh $OVENPROOF_HOME that holds only the shared base image, for a suite whose images, tags and warm
 * snapshots must not meet those of other suites (bakes of the same project share an image by its bake
 * key). On the shared home's filesystem, so the read-only base files are hard-linked, not copied.
 */
export function privateHomeWithBase(base: ImageManifest, prefix: string): string {
  const home = mkdtempSync(join(dirname(ovenproofHome()), `ovenproof-${prefix}-`));
  const from = join(ovenproofHome(), 'images', base.id);
  const to = join(home, 'images', base.id);
  mkdirSync(to, { recursive: true });
  for (const file of ['disk.raw', 'vmlinuz', 'initrd.img']) linkSync(join(from, file), join(to, file));
  copyFileSync(join(from, 'manifest.json'), join(to, 'manifest.json'));
  return home;
}
