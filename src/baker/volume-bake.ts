/**
 * The volume (chroot) bake, Aminator / packer-chroot style: copy the base image's root volume, attach
 * it to this host, mount it, install into it through chroot, clean it, snapshot it and register the
 * snapshot as an image. It only uses the Provider's volume calls and a block device path, so the same
 * steps serve a loop device locally and an EBS volume on an EC2 baker host.
 */
import type { Step, StepTiming } from '../common/steps.js';
import type { ImageManifest, Provider, RunContext } from '../providers/provider.js';
import { runCommand, type CommandRunner } from '../common/host/command.js';
import type { IndexCache } from './index-cache.js';
import { attachVolume, detachVolume } from './steps/attach.js';
import { copyVolume, deleteVolume } from './steps/copy-volume.js';
import { checkFilesystem } from './steps/fsck.js';
import { cleanImage } from './steps/hygiene.js';
import { installIdentityInit } from './steps/identity.js';
import { installPackages } from './steps/install-packages.js';
import { recordPackages } from './steps/inventory.js';
import { mountVolume, unmountVolume } from './steps/mount.js';
import { registerImage, snapshotVolume } from './steps/register.js';
import { runBakeSteps, type StepHook } from './steps/run.js';
import { blockServices, unblockServices } from './steps/services.js';
import { need, type PreparedBake, type VolumeState } from './steps/state.js';
import { updateIndex } from './steps/update-index.js';

export const VOLUME_STEPS: readonly Step<VolumeState>[] = [
  copyVolume,
  attachVolume,
  checkFilesystem,
  mountVolume,
  blockServices,
  updateIndex,
  installPackages,
  installIdentityInit,
  recordPackages,
  cleanImage,
  unblockServices,
  unmountVolume,
  detachVolume,
  snapshotVolume,
  registerImage,
  deleteVolume,
];

/** Step ids of the volume bake, in order (for the kill tests and the step benchmark). */
export const VOLUME_STEP_NAMES: readonly string[] = VOLUME_STEPS.map((s) => s.name);

export interface VolumeBakeOptions {
  /** Parent folder of the bake's mount point when the provider has no `createWorkDir`. */
  workDir: string;
  indexCache: IndexCache | null;
  hook?: StepHook;
  run?: CommandRunner;
}

export async function volumeBake(
  provider: Provider,
  bake: PreparedBake,
  ctx: RunContext,
  options: VolumeBakeOptions,
): Promise<{ image: ImageManifest; steps: StepTiming[] }> {
  const state: VolumeState = {
    provider,
    ctx,
    bake,
    target: null,
    root: null,
    indexCache: options.indexCache,
    sourcesDigest: null,
    staged: null,
    packages: null,
    image: null,
    run: options.run ?? runCommand,
    workDir: options.workDir,
    volumeId: null,
    volumeGone: false,
    attached: false,
    device: null,
    fsDevice: null,
    dir: null,
    dirKey: null,
    snapshotId: null,
  };
  const steps = await runBakeSteps(VOLUME_STEPS, state, options.hook);
  return { image: need(state.image, 'the registered image'), steps };
}
