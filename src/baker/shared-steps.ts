/**
 * The parts of a bake both strategies share, acting on a BakeTarget: install the packages, write the
 * identity init, record the package set, clean the image. What differs is only where the target is.
 */
import { posix } from 'node:path';
import { IDENTITY_STATE_DIR, identityInitFiles } from '../providers/identity/index.js';
import type { ImageManifest } from '../providers/provider.js';
import { shQuote } from '../ssh/shell.js';
import { COMMON_HYGIENE, hygieneScript, mergeHygiene } from './hygiene.js';
import type { OsPlugin } from './os/plugin.js';
import type { BakeTarget } from './target.js';

export interface PackageFile {
  /** Path on this host. */
  path: string;
  /** sha256 hex of its content (feeds the bake key). */
  digest: string;
  /** Package name read from the file. */
  name: string;
}

/** Everything a bake needs once the request is resolved against the provider. */
export interface PreparedBake {
  base: ImageManifest;
  plugin: OsPlugin;
  packageFiles: PackageFile[];
  packages: string[];
  provisionScript: string | null;
  bakeKey: string;
  strategy: 'volume' | 'instance';
  imageName: string;
  sshUser: string;
}

/** Where package files are staged on the target; the hygiene step removes it. */
export const STAGING_DIR = '/var/tmp/ovenproof-bake';

export function stagedPath(file: PackageFile, index: number): string {
  // The digest prefix keeps two files with one base name apart; the name stays recognisable in apt output.
  const base = posix.basename(file.path).replace(/[^A-Za-z0-9._+-]/g, '_');
  return `${STAGING_DIR}/${index}-${file.digest.slice(0, 8)}-${base}`;
}

export async function uploadPackageFiles(target: BakeTarget, files: PackageFile[]): Promise<string[]> {
  const staged: string[] = [];
  for (const [index, file] of files.entries()) {
    const path = stagedPath(file, index);
    await target.putFile(file.path, path, 0o644);
    staged.push(path);
  }
  return staged;
}

export async function installPackages(
  target: BakeTarget,
  bake: PreparedBake,
  staged: string[],
  signal: AbortSignal,
): Promise<void> {
  await target.sh(bake.plugin.installScript(staged, bake.packages), { signal });
  if (bake.provisionScript) await target.sh(bake.provisionScript, { signal });
}

export async function installIdentityInit(target: BakeTarget): Promise<void> {
  for (const file of identityInitFiles()) {
    if (file.symlinkTo) {
      await target.sh(
        `mkdir -p ${shQuote(posix.dirname(file.path))} && ln -sfn ${shQuote(file.symlinkTo)} ${shQuote(file.path)}`,
      );
    } else {
      await target.writeFile(file.path, file.content, file.mode);
    }
  }
}

export async function installedPackages(
  target: BakeTarget,
  plugin: OsPlugin,
): Promise<Record<string, string>> {
  const packages = plugin.parseInstalled(await target.sh(plugin.listInstalledScript()));
  if (Object.keys(packages).length === 0) throw new Error('the package manager lists no installed packages');
  return packages;
}

/**
 * Image hygiene plus the per-image resets: the identity init's "already applied" state (so it runs
 * again on every new instance), a neutral hostname, and the staged package files.
 */
export function imageHygieneScript(plugin: OsPlugin): string {
  const extra = [
    `rm -rf -- ${shQuote(IDENTITY_STATE_DIR)} ${shQuote(STAGING_DIR)}`,
    'echo localhost > /etc/hostname',
    "if [ -f /etc/hosts ]; then sed -i '/^127\\.0\\.1\\.1[[:space:]]/d' /etc/hosts; fi",
  ].join('\n');
  return hygieneScript(mergeHygiene(COMMON_HYGIENE, plugin.hygiene), extra);
}

export async function cleanImage(target: BakeTarget, plugin: OsPlugin): Promise<void> {
  await target.sh(imageHygieneScript(plugin));
}

/** The manifest both strategies register (SPEC §1.3: parent, package set, bake key, tags). */
export function bakedManifest(
  bake: PreparedBake,
  packages: Record<string, string>,
  tags: Record<string, string>,
): Omit<ImageManifest, 'id' | 'createdAt'> {
  return {
    name: bake.imageName,
    os: bake.base.os,
    arch: bake.base.arch,
    parent: bake.base.id,
    packages,
    bakeKey: bake.bakeKey,
    tags: { ...tags, 'ovenproof:bake-strategy': bake.strategy, 'ovenproof:base-image': bake.base.id },
  };
}
