/**
 * Scratch folders under $OVENPROOF_HOME/work (rootfs builds, mount points). Each carries owner.json so
 * sweep can remove one whose process died, after unmounting anything still mounted inside it.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../../common/atomic-file.js';
import type { Privileged } from '../../common/host/command.js';
import { currentOwner, mountsBelow } from './owner.js';
import type { LocalPaths } from './paths.js';

export const WORK_OWNER_FILE = 'owner.json';

export async function createWorkDir(paths: LocalPaths, purpose: string, runId?: string): Promise<string> {
  const dir = join(paths.work, `${purpose}-${randomBytes(5).toString('hex')}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(
    join(dir, WORK_OWNER_FILE),
    JSON.stringify({ ...currentOwner(runId), purpose, createdAt: new Date().toISOString() }),
  );
  return dir;
}

/** Unmounts whatever is left below the folder (deepest first, lazily as a last resort) and deletes it. */
export async function removeWorkDir(dir: string, privileged: Privileged): Promise<void> {
  const mounts = await mountsBelow(dir);
  for (const point of mounts) {
    const result = await privileged.run('umount', [point]);
    if (result.code !== 0) await privileged.run('umount', ['-l', point]);
  }
  const removed = await rm(dir, { recursive: true, force: true }).then(
    () => true,
    () => false,
  );
  if (!removed) await privileged.mustRun('sweep', 'rm', ['-rf', '--one-file-system', dir]);
}
