/**
 * The volume (chroot) bake of SPEC §1.3, Aminator / packer-chroot style. It only uses the Provider's
 * volume calls and a block device path, so the same steps serve a loop device locally and an EBS volume
 * on an EC2 baker host. Every mount point and directory the baker itself creates is written to the
 * journal before it exists; provider resources (volume, attachment, snapshot) are journaled by the
 * provider.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PipelineError, errorMessage } from '../common/errors.js';
import type { ImageManifest, Provider, RunContext } from '../providers/provider.js';
import { runCommand, type CommandRunner } from './command.js';
import { IndexCache, sourcesDigest } from './index-cache.js';
import { describeHolders, isSharedMount, mountsUnder, processesInRoot, unmountWithRetry } from './mounts.js';
import {
  bakedManifest,
  cleanImage,
  installIdentityInit,
  installPackages,
  installedPackages,
  uploadPackageFiles,
  type PreparedBake,
} from './shared-steps.js';
import { runSteps, type Step, type StepHook } from './steps.js';
import { ChrootTarget } from './target.js';

export interface VolumeBakeOptions {
  /** Parent folder of the bake's mount point when the provider has no `createWorkDir`. */
  workDir: string;
  indexCache: IndexCache | null;
  hook?: StepHook;
  run?: CommandRunner;
}

interface VolumeState {
  bake: PreparedBake;
  options: VolumeBakeOptions;
  run: CommandRunner;
  volumeId: string | null;
  volumeGone: boolean;
  attached: boolean;
  device: string | null;
  fsDevice: string | null;
  dir: string | null;
  dirKey: string | null;
  root: string | null;
  target: ChrootTarget | null;
  sourcesDigest: string | null;
  packages: Record<string, string> | null;
  snapshotId: string | null;
  image: ImageManifest | null;
}

const BIND_MOUNTS = ['/proc', '/sys', '/dev', '/dev/pts'] as const;
const RESOLV = '/etc/resolv.conf';
const RESOLV_SAVED = '/etc/resolv.conf.ovenproof-orig';

const mountKey = (path: string) => `baker-mount:${path}`;

function need<T>(value: T | null, what: string): T {
  if (value === null) throw new Error(`volume bake: ${what} is not available (an earlier step did not run)`);
  return value;
}

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

/** Creates the bake's scratch folder (the provider's when it offers one, so its sweep knows it), journaled. */
async function createBakeDir(ctx: RunContext, provider: Provider, state: VolumeState): Promise<string> {
  const token = `${ctx.runId.replace(/[^A-Za-z0-9-]/g, '')}-${randomBytes(4).toString('hex')}`;
  const key = `baker-dir:${token}`;
  const planned = provider.createWorkDir ? null : join(state.options.workDir, `bake-${token}`);
  await ctx.journal.intend({
    key,
    provider: provider.name,
    kind: 'file',
    data: { purpose: 'bake mount point', ...(planned ? { path: planned } : {}) },
  });
  let dir: string;
  if (planned) {
    await mkdir(planned, { recursive: true, mode: 0o700 });
    dir = planned;
  } else {
    dir = await provider.createWorkDir!(ctx, 'bake');
  }
  await ctx.journal.created(key, dir, { path: dir });
  state.dirKey = key;
  return dir;
}

async function mountJournaled(
  ctx: RunContext,
  state: VolumeState,
  provider: Provider,
  path: string,
  argv: string[],
): Promise<void> {
  await ctx.journal.intend({ key: mountKey(path), provider: provider.name, kind: 'mount', data: { path } });
  await state.run(argv, { privileged: true });
  await ctx.journal.created(mountKey(path), path);
}

/** Stops processes left running in the chroot, then unmounts everything below it, deepest first. */
async function unmountAll(ctx: RunContext, state: VolumeState): Promise<void> {
  const root = state.root;
  if (!root) return;
  const leftovers = await processesInRoot(root);
  if (leftovers.length) {
    ctx.log.warn(`stopping processes left running in the bake chroot: ${describeHolders(leftovers)}`);
    for (const p of leftovers)
      await state.run(['kill', '-KILL', String(p.pid)], { privileged: true, okCodes: [1] });
  }
  for (const path of await mountsUnder(root)) {
    await unmountWithRetry(path, { run: state.run, warn: (m) => ctx.log.warn(m) });
    await ctx.journal.deleted(mountKey(path)).catch(() => undefined);
  }
}

async function removeDir(ctx: RunContext, state: VolumeState): Promise<void> {
  if (!state.dir) return;
  if ((await mountsUnder(state.dir)).length) return; // never rm -r across a live mount
  await rm(state.dir, { recursive: true, force: true });
  if (state.dirKey) await ctx.journal.deleted(state.dirKey).catch(() => undefined);
  state.dir = null;
  state.root = null;
}

function volumeSteps(provider: Provider): Step<VolumeState>[] {
  return [
    {
      name: 'copy',
      label: 'Copying base volume',
      weight: 1,
      async run(state, ctx) {
        state.volumeId = (await provider.createVolume(ctx, state.bake.base.id)).id;
      },
      async cleanup(state, ctx) {
        if (state.volumeId && !state.volumeGone) {
          await provider.deleteVolume(ctx, state.volumeId);
          state.volumeGone = true;
        }
      },
    },
    {
      name: 'attach',
      label: 'Attaching volume',
      weight: 0.3,
      async run(state, ctx) {
        state.device = (await provider.attachVolume(ctx, need(state.volumeId, 'the volume'))).device;
        state.attached = true;
      },
      async cleanup(state, ctx) {
        if (state.attached && state.volumeId) {
          await provider.detachVolume(ctx, state.volumeId);
          state.attached = false;
        }
      },
    },
    {
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
    },
    {
      name: 'mount',
      label: 'Mounting volume',
      weight: 0.5,
      async run(state, ctx) {
        const dir = await createBakeDir(ctx, provider, state);
        state.dir = dir;
        const root = join(dir, 'root');
        await mkdir(root);
        state.root = root;
        await mountJournaled(ctx, state, provider, root, [
          'mount',
          '-o',
          'noatime',
          need(state.fsDevice, 'the filesystem'),
          root,
        ]);
        for (const source of BIND_MOUNTS) {
          const path = join(root, source);
          await mountJournaled(ctx, state, provider, path, ['mount', '--bind', source, path]);
          // A slave mount receives the host's changes but never sends its own back: with shared
          // propagation (systemd hosts) a mount inside the chroot would otherwise appear on the host.
          if (await isSharedMount(path))
            await state.run(['mount', '--make-slave', path], { privileged: true });
        }
        state.target = new ChrootTarget(root, state.bake.plugin.env, state.run);
        // The host's resolver for apt inside the chroot; the image's own file (often a symlink) is kept aside.
        const resolv = Buffer.from(await readFile('/etc/resolv.conf', 'utf8').catch(() => '')).toString(
          'base64',
        );
        await state.target.sh(
          `if [ -e ${RESOLV} ] || [ -L ${RESOLV} ]; then mv -f ${RESOLV} ${RESOLV_SAVED}; fi\n` +
            `printf %s '${resolv}' | base64 -d > ${RESOLV} && chmod 644 ${RESOLV}`,
        );
      },
      async cleanup(state, ctx) {
        await unmountAll(ctx, state);
        await removeDir(ctx, state);
      },
    },
    {
      name: 'block-services',
      label: 'Blocking service starts',
      weight: 0.2,
      async run(state) {
        await need(state.target, 'the chroot').sh(state.bake.plugin.blockServicesScript());
      },
    },
    {
      name: 'index',
      label: 'Updating package lists',
      weight: 1,
      async run(state, ctx) {
        const target = need(state.target, 'the chroot');
        const { plugin } = state.bake;
        if (state.bake.packages.length === 0 && state.bake.packageFiles.length === 0) return;
        const lists = join(need(state.root, 'the mount'), plugin.indexDir);
        state.sourcesDigest = sourcesDigest(await target.sh(plugin.indexSourcesScript()));
        const cache = state.options.indexCache;
        if (
          cache &&
          (await lstat(lists)).isDirectory() &&
          (await cache.restoreLists(state.sourcesDigest, lists))
        ) {
          ctx.log.debug(`package lists restored from the host cache (${state.sourcesDigest})`);
          return;
        }
        await target.sh(plugin.updateIndexScript(), { signal: ctx.signal });
        await cache?.saveLists(state.sourcesDigest, lists).catch((error: unknown) => {
          ctx.log.warn(`could not cache the package lists: ${errorMessage(error)}`);
        });
      },
    },
    {
      name: 'install',
      label: 'Installing packages',
      weight: 3,
      async run(state, ctx) {
        const target = need(state.target, 'the chroot');
        const root = need(state.root, 'the mount');
        const archives = join(root, state.bake.plugin.archiveDir);
        const cache = state.options.indexCache;
        if (cache && state.sourcesDigest)
          await cache.restoreArchives(state.sourcesDigest, archives).catch(() => undefined);
        const staged = await uploadPackageFiles(target, state.bake.packageFiles);
        try {
          await installPackages(target, state.bake, staged, ctx.signal);
        } catch (error) {
          // Cached lists can be older than the mirror (a package was superseded): refresh once and retry.
          if (!cache || !state.sourcesDigest) throw error;
          ctx.log.info(`install failed with cached package lists, refreshing them: ${errorMessage(error)}`);
          await target.sh(state.bake.plugin.updateIndexScript(), { signal: ctx.signal });
          await cache
            .saveLists(state.sourcesDigest, join(root, state.bake.plugin.indexDir))
            .catch(() => undefined);
          await installPackages(target, state.bake, staged, ctx.signal);
        }
        if (cache && state.sourcesDigest)
          await cache.saveArchives(state.sourcesDigest, archives).catch(() => undefined);
      },
    },
    {
      name: 'identity',
      label: 'Installing identity init',
      weight: 0.2,
      async run(state) {
        await installIdentityInit(need(state.target, 'the chroot'));
      },
    },
    {
      name: 'inventory',
      label: 'Recording installed packages',
      weight: 0.2,
      async run(state) {
        state.packages = await installedPackages(need(state.target, 'the chroot'), state.bake.plugin);
      },
    },
    {
      name: 'hygiene',
      label: 'Cleaning image',
      weight: 0.3,
      async run(state) {
        await cleanImage(need(state.target, 'the chroot'), state.bake.plugin);
      },
    },
    {
      name: 'unblock-services',
      label: 'Restoring services and resolv.conf',
      weight: 0.2,
      async run(state) {
        const target = need(state.target, 'the chroot');
        await target.sh(state.bake.plugin.unblockServicesScript());
        await target.sh(
          `rm -f ${RESOLV}; if [ -e ${RESOLV_SAVED} ] || [ -L ${RESOLV_SAVED} ]; then mv -f ${RESOLV_SAVED} ${RESOLV}; fi`,
        );
      },
    },
    {
      name: 'unmount',
      label: 'Unmounting volume',
      weight: 0.3,
      async run(state, ctx) {
        await unmountAll(ctx, state);
        await removeDir(ctx, state);
        state.target = null;
      },
    },
    {
      name: 'detach',
      label: 'Detaching volume',
      weight: 0.2,
      async run(state, ctx) {
        await provider.detachVolume(ctx, need(state.volumeId, 'the volume'));
        state.attached = false;
      },
    },
    {
      name: 'snapshot',
      label: 'Snapshotting volume',
      weight: 0.3,
      async run(state, ctx) {
        state.snapshotId = (await provider.snapshotVolume(ctx, need(state.volumeId, 'the volume'))).id;
      },
    },
    {
      name: 'register',
      label: 'Registering image',
      weight: 0.3,
      async run(state, ctx) {
        const tags = {
          ...ctx.tags,
          'ovenproof:run-id': ctx.runId,
          'ovenproof:expires-at': ctx.expiresAt.toISOString(),
        };
        state.image = await provider.registerImage(ctx, {
          snapshotId: need(state.snapshotId, 'the snapshot'),
          manifest: bakedManifest(state.bake, need(state.packages, 'the package set'), tags),
        });
      },
    },
    {
      name: 'delete-volume',
      label: 'Deleting volume',
      weight: 0.2,
      async run(state, ctx) {
        await provider.deleteVolume(ctx, need(state.volumeId, 'the volume'));
        state.volumeGone = true;
      },
    },
  ];
}

/** Step ids of the volume bake, in order (for the kill tests and the step benchmark). */
export const VOLUME_STEP_NAMES: readonly string[] = volumeSteps({} as Provider).map((s) => s.name);

export async function volumeBake(
  provider: Provider,
  bake: PreparedBake,
  ctx: RunContext,
  options: VolumeBakeOptions,
  durationsMs: Record<string, number>,
): Promise<ImageManifest> {
  const state: VolumeState = {
    bake,
    options,
    run: options.run ?? runCommand,
    volumeId: null,
    volumeGone: false,
    attached: false,
    device: null,
    fsDevice: null,
    dir: null,
    dirKey: null,
    root: null,
    target: null,
    sourcesDigest: null,
    packages: null,
    snapshotId: null,
    image: null,
  };
  await runSteps(volumeSteps(provider), state, ctx, durationsMs, { hook: options.hook });
  return need(state.image, 'the registered image');
}
