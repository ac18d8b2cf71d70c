import { posix, join } from 'node:path';
import { errorMessage } from '../../common/errors.js';
import type { Step } from '../../common/steps.js';
import type { BakeTarget } from '../target.js';
import { need, type BakeState, type PackageFile, type PreparedBake } from './state.js';

/** Where package files are staged on the target; the hygiene step removes it. */
export const STAGING_DIR = '/var/tmp/ovenproof-bake';

export function stagedPath(file: PackageFile, index: number): string {
  // The digest prefix keeps two files with one base name apart; the name stays recognisable in apt output.
  const base = posix.basename(file.path).replace(/[^A-Za-z0-9._+-]/g, '_');
  return `${STAGING_DIR}/${index}-${file.digest.slice(0, 8)}-${base}`;
}

async function uploadPackageFiles(target: BakeTarget, files: PackageFile[]): Promise<string[]> {
  const staged: string[] = [];
  for (const [index, file] of files.entries()) {
    const path = stagedPath(file, index);
    await target.putFile(file.path, path, 0o644);
    staged.push(path);
  }
  return staged;
}

async function install(target: BakeTarget, bake: PreparedBake, staged: string[], signal: AbortSignal) {
  await target.sh(bake.plugin.installScript(staged, bake.packages), { signal });
  if (bake.provisionScript) await target.sh(bake.provisionScript, { signal });
}

/** Copies the package files onto the target (a separate step on a live builder, where it takes a while). */
export const uploadPackages: Step<BakeState> = {
  name: 'upload',
  label: 'Uploading packages',
  weight: 0.3,
  async run(state) {
    state.staged = await uploadPackageFiles(need(state.target, 'the bake target'), state.bake.packageFiles);
  },
};

/**
 * Installs the package files and OS packages, then runs the provision script. With the host cache, the
 * downloaded archives are restored before and saved after; cached lists can be older than the mirror (a
 * package was superseded), so a failed install refreshes them once and retries.
 */
export const installPackages: Step<BakeState> = {
  name: 'install',
  label: 'Installing packages',
  weight: 3,
  async run(state, signal) {
    const target = need(state.target, 'the bake target');
    const { plugin } = state.bake;
    const cache = state.root && state.sourcesDigest ? state.indexCache : null;
    const digest = state.sourcesDigest ?? '';
    const archives = state.root ? join(state.root, plugin.archiveDir) : '';
    if (cache) await cache.restoreArchives(digest, archives).catch(() => undefined);
    state.staged ??= await uploadPackageFiles(target, state.bake.packageFiles);
    try {
      await install(target, state.bake, state.staged, signal);
    } catch (error) {
      if (!cache || !state.root) throw error;
      state.ctx.log.info(`install failed with cached package lists, refreshing them: ${errorMessage(error)}`);
      await target.sh(plugin.updateIndexScript(), { signal });
      await cache.saveLists(digest, join(state.root, plugin.indexDir)).catch(() => undefined);
      await install(target, state.bake, state.staged, signal);
    }
    if (cache) await cache.saveArchives(digest, archives).catch(() => undefined);
  },
};
