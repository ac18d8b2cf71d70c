/**
 * Finds and removes the local provider's leftovers: QEMU processes, loop devices backed by files under
 * $OVENPROOF_HOME, mounts, scratch folders, volumes and snapshots whose owning process is dead or whose
 * expiry has passed, and expired images that were not kept. Registered images are never touched
 * otherwise, and nothing outside the home is (except mounts of loop devices backed by its files).
 */
import { errorMessage } from '../../common/errors.js';
import { readMounts } from '../../common/host/mountinfo.js';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../common/log.js';
import type { SweepOptions, SweptResource } from '../provider.js';
import type { Privileged } from '../../common/host/command.js';
import { destroyInstance, readInstance } from './instances.js';
import { mountsBelow, ownerAlive, readJson, type Owner } from './owner.js';
import { isProcessAlive } from '../../common/host/process.js';
import type { LocalPaths } from './paths.js';
import { EXPIRES_TAG, KEPT_TAG, type ImageStore } from './store.js';
import { detachFile, snapshotFiles, volumeFiles, type VolumeRecord } from './volumes.js';
import { WORK_OWNER_FILE } from './workdir.js';

/** Folders without an owner record (a crash between mkdir and the record) are removed after this. */
const ORPHAN_GRACE_MS = 10 * 60_000;

interface SweepContext {
  paths: LocalPaths;
  store: ImageStore;
  privileged: Privileged;
  options: SweepOptions;
  log: Logger;
  now: number;
  found: SweptResource[];
}

async function entries(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
}

async function ageMs(path: string, now: number): Promise<number> {
  const st = await stat(path).catch(() => null);
  return st ? now - st.mtimeMs : 0;
}

function oldEnough(s: SweepContext, createdAt: string | undefined): boolean {
  if (!s.options.olderThanMs) return true;
  const created = createdAt ? Date.parse(createdAt) : NaN;
  return Number.isFinite(created) && s.now - created >= s.options.olderThanMs;
}

/** Why a resource with this record is garbage, or null while it is legitimately in use. */
function staleReason(
  s: SweepContext,
  record: { owner?: Owner; expiresAt?: string; createdAt?: string; kept?: boolean } | null,
): string | null {
  if (!record) return 'no owner record';
  if (!oldEnough(s, record.createdAt)) return null;
  if (record.expiresAt && Date.parse(record.expiresAt) < s.now) return `expired at ${record.expiresAt}`;
  if (!record.kept && !ownerAlive(record.owner)) return `owning process ${record.owner?.pid ?? '?'} is gone`;
  return null;
}

async function act(
  s: SweepContext,
  resource: Omit<SweptResource, 'deleted'>,
  remove: () => Promise<void>,
): Promise<void> {
  let deleted = false;
  if (!s.options.dryRun) {
    try {
      await remove();
      deleted = true;
    } catch (error) {
      s.log.warn(`sweep: could not remove ${resource.kind} ${resource.id}: ${errorMessage(error)}`);
    }
  }
  s.log.info(
    `sweep: ${s.options.dryRun ? 'would remove' : deleted ? 'removed' : 'failed'} ${resource.kind} ${resource.id} (${resource.reason})`,
  );
  s.found.push({ ...resource, deleted });
}

export async function sweepLocal(
  paths: LocalPaths,
  store: ImageStore,
  privileged: Privileged,
  options: SweepOptions,
  log: Logger,
): Promise<SweptResource[]> {
  const s: SweepContext = { paths, store, privileged, options, log, now: Date.now(), found: [] };
  await sweepInstances(s);
  await sweepOrphanQemu(s);
  await sweepVolumes(s);
  await sweepLoopDevices(s);
  await sweepWorkDirs(s);
  await sweepImages(s);
  await sweepTempFiles(s);
  return s.found;
}

async function sweepInstances(s: SweepContext) {
  for (const id of await entries(s.paths.instances)) {
    const dir = join(s.paths.instances, id);
    const record = await readInstance(s.paths, id);
    let reason = staleReason(s, record);
    if (!record && (await ageMs(dir, s.now)) < ORPHAN_GRACE_MS) reason = null;
    if (reason)
      await act(s, { kind: 'instance', id, reason }, () => destroyInstance(s.paths, id, 3000, s.log));
  }
}

/**
 * QEMU or watchdog processes running from an instance folder that no longer exists. While the folder
 * exists the instance is sweepInstances' to judge (which has removed it by now if it was stale): a live
 * one's QEMU, its `timeout` watchdog and a QEMU that has not yet written its pid file are all left alone,
 * as another run on this host may be launching at this very moment.
 */
async function sweepOrphanQemu(s: SweepContext) {
  const prefix = `${s.paths.instances}/`;
  for (const pidText of (await readdir('/proc').catch(() => [] as string[])).filter((p) => /^\d+$/.test(p))) {
    const cmdline = await readFile(`/proc/${pidText}/cmdline`, 'utf8').catch(() => '');
    const args = cmdline.split('\0');
    if (!args.some((a) => a.includes('qemu-system'))) continue;
    const ref = args.map((a) => /(?:path|file)=([^,]+)/.exec(a)?.[1] ?? a).find((a) => a.startsWith(prefix));
    if (!ref) continue;
    const id = ref.slice(prefix.length).split('/')[0]!;
    if (existsSync(join(s.paths.instances, id))) continue;
    const pid = Number(pidText);
    await act(s, { kind: 'process', id: `${pid}`, reason: `QEMU of vanished instance ${id}` }, async () => {
      if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    });
  }
}

async function sweepVolumes(s: SweepContext) {
  for (const id of await entries(s.paths.volumes)) {
    const files = volumeFiles(s.paths, id);
    const record = await readJson<VolumeRecord>(files.record);
    let reason = staleReason(s, record);
    if (!record && (await ageMs(files.dir, s.now)) < ORPHAN_GRACE_MS) reason = null;
    if (reason) {
      await act(s, { kind: 'volume', id, reason }, async () => {
        await unmountDevicesOf(s, files.disk);
        await detachFile(s.privileged, files.disk);
        await rm(files.dir, { recursive: true, force: true });
      });
    }
  }
  for (const id of await entries(s.paths.snapshots)) {
    const files = snapshotFiles(s.paths, id);
    const record = await readJson<VolumeRecord>(files.record);
    let reason = staleReason(s, record);
    if (!record && (await ageMs(files.dir, s.now)) < ORPHAN_GRACE_MS) reason = null;
    if (reason)
      await act(s, { kind: 'snapshot', id, reason }, () => rm(files.dir, { recursive: true, force: true }));
  }
}

interface LoopDevice {
  name: string;
  'back-file': string | null;
}

async function loopDevices(s: SweepContext): Promise<LoopDevice[]> {
  const result = await s.privileged.run('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE']);
  if (result.code !== 0 || !result.stdout.trim()) return [];
  return (JSON.parse(result.stdout) as { loopdevices?: LoopDevice[] }).loopdevices ?? [];
}

/** Mount points whose source is one of the devices, plus everything mounted below them. */
async function mountsOfDevices(devices: string[]): Promise<string[]> {
  const points = (await readMounts())
    .filter((m) => devices.some((d) => m.source === d || m.source.startsWith(`${d}p`)))
    .map((m) => m.point);
  const all: string[] = [];
  for (const point of points) all.push(...(await mountsBelow(point)));
  return [...new Set(all)].sort((a, b) => b.length - a.length);
}

async function unmount(s: SweepContext, point: string) {
  if ((await s.privileged.run('umount', [point])).code !== 0) {
    await s.privileged.mustRun('sweep', 'umount', ['-l', point]);
  }
}

async function unmountDevicesOf(s: SweepContext, backingFile: string) {
  const devices = (await loopDevices(s))
    .filter((d) => d['back-file']?.replace(/ \(deleted\)$/, '') === backingFile)
    .map((d) => d.name);
  for (const point of await mountsOfDevices(devices)) await unmount(s, point);
}

/** Loop devices backed by a file under the home that no live volume owns (its volume was removed). */
async function sweepLoopDevices(s: SweepContext) {
  const home = `${s.paths.home}/`;
  for (const device of await loopDevices(s)) {
    const file = device['back-file']?.replace(/ \(deleted\)$/, '');
    if (!file?.startsWith(home)) continue;
    let owned = false;
    const rel = file.slice(home.length).split('/');
    if (rel[0] === 'volumes' && rel[1]) {
      const record = await readJson<VolumeRecord>(volumeFiles(s.paths, rel[1]).record).catch(() => null);
      owned = record !== null && staleReason(s, record) === null;
    }
    if (owned) continue;
    await act(
      s,
      { kind: 'attachment', id: device.name, reason: `backed by ${file}, no live volume` },
      async () => {
        for (const point of await mountsOfDevices([device.name])) await unmount(s, point);
        await s.privileged.mustRun('sweep', 'losetup', ['-d', device.name]);
      },
    );
  }
}

async function sweepWorkDirs(s: SweepContext) {
  for (const name of await entries(s.paths.work)) {
    const dir = join(s.paths.work, name);
    const owner = await readJson<Owner & { createdAt?: string }>(join(dir, WORK_OWNER_FILE));
    let reason = owner ? staleReason(s, { owner, createdAt: owner.createdAt }) : 'no owner record';
    if (!owner && (await ageMs(dir, s.now)) < ORPHAN_GRACE_MS) reason = null;
    if (!reason) continue;
    for (const point of await mountsBelow(dir)) {
      await act(s, { kind: 'mount', id: point, reason }, () => unmount(s, point));
    }
    await act(s, { kind: 'file', id: dir, reason }, async () => {
      if ((await mountsBelow(dir)).length) throw new Error(`${dir} still has mounts`);
      const removed = await rm(dir, { recursive: true, force: true }).then(
        () => true,
        () => false,
      );
      if (!removed) await s.privileged.mustRun('sweep', 'rm', ['-rf', '--one-file-system', dir]);
    });
  }
}

async function sweepImages(s: SweepContext) {
  for (const image of await s.store.list()) {
    const expires = image.tags[EXPIRES_TAG];
    if (image.tags[KEPT_TAG] === 'true' || !expires || !(Date.parse(expires) < s.now)) continue;
    if (!oldEnough(s, image.createdAt)) continue;
    await act(s, { kind: 'image', id: image.id, reason: `expired at ${expires}, not kept` }, async () => {
      await s.store.deregister(image.id);
    });
  }
  for (const name of await readdir(s.paths.images).catch(() => [] as string[])) {
    if (!/^\.(staging|deleting)-/.test(name)) continue;
    const dir = join(s.paths.images, name);
    if ((await ageMs(dir, s.now)) < ORPHAN_GRACE_MS) continue;
    await act(s, { kind: 'file', id: dir, reason: 'interrupted image registration' }, () =>
      rm(dir, { recursive: true, force: true }),
    );
  }
}

/** Atomic-write temp files (`.<name>.<pid>.<hex>.tmp`) left by a killed writer. */
async function sweepTempFiles(s: SweepContext) {
  const dirs = [
    s.paths.home,
    s.paths.images,
    s.paths.instances,
    s.paths.volumes,
    s.paths.snapshots,
    s.paths.work,
  ];
  for (const top of [s.paths.images, s.paths.instances, s.paths.volumes, s.paths.snapshots]) {
    for (const name of await entries(top)) dirs.push(join(top, name));
  }
  for (const dir of dirs) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const m = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name);
      if (!m || isProcessAlive(Number(m[1]))) continue;
      const path = join(dir, name);
      await act(s, { kind: 'file', id: path, reason: `temp file of dead process ${m[1]}` }, () =>
        rm(path, { force: true }),
      );
    }
  }
}
