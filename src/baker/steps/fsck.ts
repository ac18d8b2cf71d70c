import { PipelineError } from '../../common/errors.js';
import type { Step } from '../../common/steps.js';
import type { CommandRunner } from '../../common/host/command.js';
import { need, type VolumeState } from './state.js';

/** The filesystem to mount: the device itself, or its largest Linux partition (EBS volumes are partitioned). */
export function pickRootPartition(
  lsblkOutput: string,
  fsTypeOf: Map<string, string>,
  device: string,
): string {
  const LINUX_FS = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs']);
  let best: { name: string; size: number } | null = null;
  for (const line of lsblkOutput.split('\n')) {
    const [name, type, size] = line.trim().split(/\s+/);
    if (!name || type !== 'part' || !LINUX_FS.has(fsTypeOf.get(name) ?? '')) continue;
    const bytes = Number(size);
    if (!best || bytes > best.size) best = { name, size: bytes };
  }
  return best?.name ?? device;
}

async function findFilesystem(run: CommandRunner, device: string): Promise<{ path: string; fsType: string }> {
  const listing = await run(['lsblk', '-b', '-n', '-r', '-p', '-o', 'NAME,TYPE,SIZE', device]);
  const types = new Map<string, string>();
  for (const line of listing.stdout.split('\n')) {
    const name = line.trim().split(/\s+/)[0];
    if (!name) continue;
    // blkid probes the device itself: lsblk's FSTYPE needs udev, which containers often lack.
    const probe = await run(['blkid', '-p', '-o', 'value', '-s', 'TYPE', name], {
      privileged: true,
      okCodes: [2],
    });
    types.set(name, probe.stdout.trim());
  }
  const path = pickRootPartition(listing.stdout, types, device);
  const fsType = types.get(path) ?? '';
  if (!fsType) throw new PipelineError('bake', `${device} has no recognisable filesystem (blkid found none)`);
  return { path, fsType };
}

/** Finds the root filesystem on the attached device and repairs what is safe before mounting it. */
export const checkFilesystem: Step<VolumeState> = {
  name: 'fsck',
  label: 'Checking filesystem',
  weight: 0.3,
  async run(state) {
    const fs = await findFilesystem(state.run, need(state.device, 'the attached device'));
    state.fsDevice = fs.path;
    if (!fs.fsType.startsWith('ext')) return;
    // -p repairs what is safe without asking (instant on a clean filesystem); exit 1/2 = corrected.
    const preen = await state.run(['e2fsck', '-p', fs.path], { privileged: true, okCodes: [1, 2, 4] });
    if (preen.code === 4)
      await state.run(['e2fsck', '-f', '-y', fs.path], { privileged: true, okCodes: [1, 2] });
  },
};
