/**
 * Block devices for the volume bake: choosing a free device name for AttachVolume under a host-wide
 * lock (two bakes on one host must not pick the same name), skipping names that are still in use by
 * stale attachments, and resolving the name the kernel actually shows (on Nitro instances every EBS
 * volume is an NVMe device whose serial is the volume id, whatever name AttachVolume was given).
 */
import { mkdir, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isProcessAlive } from '../../common/host/process.js';
import { sleep } from './aws.js';

/** The names AWS recommends for EBS data volumes on HVM instances. */
export const CANDIDATE_DEVICES = 'fghijklmnop'.split('').map((c) => `/dev/sd${c}`);

/** The kernel names a requested `/dev/sdX` may appear under on Xen instances. */
function aliases(device: string): string[] {
  const letter = device.slice(-1);
  return [`/dev/sd${letter}`, `/dev/xvd${letter}`];
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Picks the first candidate that no attachment of the host uses (per EC2) and that no local block
 * device occupies (a stale attachment EC2 has forgotten but the kernel still shows).
 */
export async function chooseDevice(deviceRoot: string, usedByEc2: Set<string>): Promise<string> {
  for (const device of CANDIDATE_DEVICES) {
    if (usedByEc2.has(device) || aliases(device).some((d) => usedByEc2.has(d))) continue;
    const local = await Promise.all(aliases(device).map((d) => exists(join(deviceRoot, d))));
    if (local.some(Boolean)) continue;
    return device;
  }
  throw new Error(`no free device name among ${CANDIDATE_DEVICES.join(', ')} on this host`);
}

/**
 * Resolves the block device that appeared for `volumeId` attached as `requested`: the NVMe device
 * whose serial is the volume id, else the Xen name. Polls until `timeoutMs`.
 */
export async function resolveDevice(
  deviceRoot: string,
  volumeId: string,
  requested: string,
  timeoutMs: number,
  pollMs: number,
): Promise<string> {
  const serial = volumeId.replace('-', '');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const byId = join(deviceRoot, '/dev/disk/by-id', `nvme-Amazon_Elastic_Block_Store_${serial}`);
    const target = await readlink(byId).catch(() => null);
    if (target) return `/dev/${basename(target)}`;
    const nvme = await nvmeBySerial(deviceRoot, serial);
    if (nvme) return nvme;
    for (const name of aliases(requested)) if (await exists(join(deviceRoot, name))) return name;
    if (Date.now() > deadline) {
      throw new Error(
        `volume ${volumeId} attached as ${requested} but no block device appeared within ${timeoutMs} ms`,
      );
    }
    await sleep(pollMs);
  }
}

async function nvmeBySerial(deviceRoot: string, serial: string): Promise<string | null> {
  const sysBlock = join(deviceRoot, '/sys/block');
  const names = await readdir(sysBlock).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.startsWith('nvme'))) {
    const found = await readFile(join(sysBlock, name, 'device/serial'), 'utf8').catch(() => '');
    if (found.trim() === serial) return `/dev/${name}`;
  }
  return null;
}

/**
 * A host-wide mutual exclusion through an atomically created directory. A holder that died (its pid
 * is gone) is detected and the lock taken over, so an interrupted bake cannot block the host forever.
 */
export async function withHostLock<T>(
  lockDir: string,
  name: string,
  timeoutMs: number,
  fn: () => Promise<T>,
) {
  const path = join(lockDir, `ovenproof-${name}.lock`);
  const deadline = Date.now() + timeoutMs;
  await mkdir(lockDir, { recursive: true });
  for (;;) {
    try {
      await mkdir(path);
      await writeFile(join(path, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(await readFile(join(path, 'pid'), 'utf8').catch(() => 'NaN'));
      if (Number.isInteger(pid) && !isProcessAlive(pid)) {
        await rm(path, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for the host lock ${path} (held by pid ${pid})`, { cause: error });
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { recursive: true, force: true });
  }
}
