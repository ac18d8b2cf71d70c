/**
 * Volumes for the volume bake: a sparse (or reflink) copy of an image's disk, attached with losetup,
 * turned into a read-only snapshot file once detached, and consumed by registration.
 */
import { chmod, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { PipelineError } from '../../common/errors.js';
import type { RunContext } from '../provider.js';
import { mustRun, type Privileged } from '../../common/host/command.js';
import { currentOwner, readJson, type Owner } from './owner.js';
import { assertSafeId, type LocalPaths } from './paths.js';

export interface VolumeRecord {
  id: string;
  /** Image the volume was copied from; its kernel and initrd boot the baked image. */
  imageId: string;
  runId: string;
  owner: Owner;
  createdAt: string;
  expiresAt: string;
}

export const volumeKey = (id: string) => `volume:${id}`;
export const attachmentKey = (id: string) => `attachment:${id}`;
export const snapshotKey = (id: string) => `snapshot:${id}`;

export function volumeFiles(paths: LocalPaths, id: string) {
  assertSafeId('volume', id);
  const dir = join(paths.volumes, id);
  return { dir, record: join(dir, 'volume.json'), disk: join(dir, 'disk.raw') };
}

export function snapshotFiles(paths: LocalPaths, id: string) {
  assertSafeId('snapshot', id);
  const dir = join(paths.snapshots, id);
  return { dir, record: join(dir, 'snapshot.json'), disk: join(dir, 'disk.raw') };
}

export async function readVolume(paths: LocalPaths, id: string): Promise<VolumeRecord> {
  const record = await readJson<VolumeRecord>(volumeFiles(paths, id).record);
  if (!record) throw new PipelineError('bake', `local volume ${id} does not exist`);
  return record;
}

export async function readSnapshot(paths: LocalPaths, id: string): Promise<VolumeRecord> {
  const record = await readJson<VolumeRecord>(snapshotFiles(paths, id).record);
  if (!record) throw new PipelineError('bake', `local snapshot ${id} does not exist`);
  return record;
}

export async function createVolume(paths: LocalPaths, ctx: RunContext, imageId: string, imageDisk: string) {
  const id = `vol-${randomBytes(6).toString('hex')}`;
  const files = volumeFiles(paths, id);
  await ctx.journal.intend({
    key: volumeKey(id),
    provider: 'local',
    kind: 'volume',
    data: { id, dir: files.dir },
  });
  await mkdir(files.dir, { recursive: true, mode: 0o700 });
  const record: VolumeRecord = {
    id,
    imageId,
    runId: ctx.runId,
    owner: currentOwner(ctx.runId),
    createdAt: new Date().toISOString(),
    expiresAt: ctx.expiresAt.toISOString(),
  };
  await writeFileAtomic(files.record, JSON.stringify(record, null, 2));
  // Sparse copy (a reflink where the filesystem can): only the used blocks are read and written.
  await mustRun('bake', 'cp', ['--sparse=always', '--reflink=auto', imageDisk, files.disk]);
  await chmod(files.disk, 0o600);
  await ctx.journal.created(volumeKey(id), id);
  return { id };
}

/** Loop devices currently backed by a file (`losetup -j`). */
export async function loopDevicesOf(privileged: Privileged, file: string): Promise<string[]> {
  const result = await privileged.run('losetup', ['-j', file]);
  if (result.code !== 0) return [];
  return result.stdout
    .split('\n')
    .map((line) => line.split(':')[0]!.trim())
    .filter((dev) => dev.startsWith('/dev/loop'));
}

export async function attachVolume(paths: LocalPaths, privileged: Privileged, ctx: RunContext, id: string) {
  const files = volumeFiles(paths, id);
  await readVolume(paths, id);
  await ctx.journal.intend({
    key: attachmentKey(id),
    provider: 'local',
    kind: 'attachment',
    data: { volumeId: id, backingFile: files.disk },
  });
  const device = (await privileged.mustRun('bake', 'losetup', ['--find', '--show', files.disk])).trim();
  await ctx.journal.created(attachmentKey(id), device, { device });
  return { device };
}

/** Detaches every loop device backed by the file; "not attached" is success. */
export async function detachFile(privileged: Privileged, file: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const devices = await loopDevicesOf(privileged, file);
    if (devices.length === 0) return;
    for (const device of devices) await privileged.run('losetup', ['-d', device]);
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
  const left = await loopDevicesOf(privileged, file);
  if (left.length) throw new PipelineError('bake', `cannot detach ${left.join(', ')} (backed by ${file})`);
}

export async function detachVolume(paths: LocalPaths, privileged: Privileged, ctx: RunContext, id: string) {
  await detachFile(privileged, volumeFiles(paths, id).disk);
  await ctx.journal.deleted(attachmentKey(id)).catch(() => undefined);
}

export async function snapshotVolume(paths: LocalPaths, privileged: Privileged, ctx: RunContext, id: string) {
  const volume = volumeFiles(paths, id);
  const record = await readVolume(paths, id);
  const attached = await loopDevicesOf(privileged, volume.disk);
  if (attached.length) {
    throw new PipelineError(
      'bake',
      `volume ${id} is still attached (${attached.join(', ')}): detach it first`,
    );
  }
  const snapId = `snap-${randomBytes(6).toString('hex')}`;
  const snap = snapshotFiles(paths, snapId);
  await ctx.journal.intend({
    key: snapshotKey(snapId),
    provider: 'local',
    kind: 'snapshot',
    data: { id: snapId, dir: snap.dir },
  });
  await mkdir(snap.dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(snap.record, JSON.stringify({ ...record, id: snapId, volumeId: id }, null, 2));
  await rename(volume.disk, snap.disk);
  await chmod(snap.disk, 0o444);
  await ctx.journal.created(snapshotKey(snapId), snapId);
  return { id: snapId };
}

export async function deleteVolumeFiles(
  paths: LocalPaths,
  privileged: Privileged,
  id: string,
): Promise<void> {
  const files = volumeFiles(paths, id);
  await detachFile(privileged, files.disk);
  await rm(files.dir, { recursive: true, force: true });
}
