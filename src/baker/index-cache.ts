/**
 * Host-side cache of the package index (apt lists) and downloaded package files, keyed by the image's
 * package sources: `apt-get update` is the largest part of a chroot bake (2.6–2.8 s measured on a warm mirror),
 * and every bake from the same base would download the same lists again.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, type CommandRunner } from '../common/host/command.js';
import { isProcessAlive } from '../common/host/process.js';

export interface IndexCacheOptions {
  /** Folder holding one sub-folder per sources digest. */
  dir: string;
  /** Lists older than this are downloaded again. */
  maxAgeMs: number;
  run?: CommandRunner;
}

export const sourcesDigest = (sourcesText: string): string =>
  createHash('sha256').update(sourcesText).digest('hex').slice(0, 32);

export class IndexCache {
  private readonly run: CommandRunner;
  constructor(private readonly options: IndexCacheOptions) {
    this.run = options.run ?? runCommand;
  }

  private listsDir(digest: string) {
    return join(this.options.dir, digest, 'lists');
  }

  private archivesDir(digest: string) {
    return join(this.options.dir, digest, 'archives');
  }

  /** Copies fresh cached lists into `targetListsDir` (a host path inside the mounted volume); false on a miss. */
  async restoreLists(digest: string, targetListsDir: string): Promise<boolean> {
    const dir = this.listsDir(digest);
    const info = await stat(dir).catch(() => null);
    if (!info || Date.now() - info.mtimeMs > this.options.maxAgeMs) return false;
    await this.run(['cp', '-a', '--', `${dir}/.`, targetListsDir], { privileged: true });
    return true;
  }

  /** Saves freshly downloaded lists; a concurrent bake saving the same digest simply wins or loses the rename. */
  async saveLists(digest: string, sourceListsDir: string): Promise<void> {
    const final = this.listsDir(digest);
    await this.removeAbandonedStaging(join(this.options.dir, digest));
    const staging = `${final}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(staging, { recursive: true });
    try {
      const names = (await readdir(sourceListsDir)).filter(
        (n) => n !== 'lock' && n !== 'partial' && n !== 'auxfiles',
      );
      if (names.length === 0) return;
      await this.run(['cp', '-a', '--', ...names.map((n) => join(sourceListsDir, n)), staging], {
        privileged: true,
      });
      await rm(final, { recursive: true, force: true });
      await rename(staging, final).catch(() => undefined);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  /** Staging folders of bakes that were killed while saving (their pid is gone). */
  private async removeAbandonedStaging(dir: string): Promise<void> {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const pid = /^lists\.tmp-(\d+)-/.exec(name)?.[1];
      if (pid && !isProcessAlive(Number(pid))) await rm(join(dir, name), { recursive: true, force: true });
    }
  }

  /** Seeds the volume's package cache with files downloaded by earlier bakes. */
  async restoreArchives(digest: string, targetArchivesDir: string): Promise<void> {
    const dir = this.archivesDir(digest);
    const names = (await readdir(dir).catch(() => [] as string[])).filter(
      (n) => n.endsWith('.deb') || n.endsWith('.rpm'),
    );
    if (names.length === 0) return;
    await this.run(['cp', '-a', '--', ...names.map((n) => join(dir, n)), targetArchivesDir], {
      privileged: true,
    });
  }

  /** Keeps what the install downloaded for the next bake (the image itself is cleaned of it). */
  async saveArchives(digest: string, sourceArchivesDir: string): Promise<void> {
    const names = (await readdir(sourceArchivesDir).catch(() => [] as string[])).filter(
      (n) => n.endsWith('.deb') || n.endsWith('.rpm'),
    );
    if (names.length === 0) return;
    const dir = this.archivesDir(digest);
    await mkdir(dir, { recursive: true });
    await this.run(['cp', '-a', '-n', '--', ...names.map((n) => join(sourceArchivesDir, n)), dir], {
      privileged: true,
    });
  }
}
