/**
 * The `local` provider: images are raw ext4 disks + kernel/initrd + manifest in a store
 * under $OVENPROOF_HOME, volumes are sparse copies attached with losetup, instances are QEMU VMs on
 * throw-away overlays. Every resource is journaled before it exists and carries its owner and expiry on
 * disk, so `deleteResource` and `sweep` can clean up after any crash.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PipelineError, errorMessage } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type {
  FailureImageRequest,
  ImageManifest,
  ImageQuery,
  InstanceInfo,
  LaunchSpec,
  LedgerEntry,
  Provider,
  RunContext,
  SweepOptions,
  SweptResource,
} from '../provider.js';
import { failureImageTags } from '../failure-image.js';
import { buildBaseImage, type BaseBuildOptions, type BaseBuildResult } from './base-image.js';
import { Privileged, mustRun } from '../../common/host/command.js';
import { copyRunningInstanceDisk } from './failure-image.js';
import { INSTANCE_TOOLS, VOLUME_TOOLS, osNameFor, readOsRelease, requireTools } from './host.js';
import {
  destroyInstance,
  instanceFiles,
  instanceKey,
  bootCold,
  readInstance,
  stopInstance,
  writeInstance,
  type InstanceOptions,
} from './instances.js';
import { mountsBelow } from './owner.js';
import { isProcessAlive } from '../../common/host/process.js';
import { ovenproofHome } from '../../common/host/home.js';
import { localPaths, type LocalPaths } from './paths.js';
import { EXPIRES_TAG, ImageStore, KEPT_TAG, newImageId } from './store.js';
import { sweepLocal } from './sweep.js';
import {
  attachVolume,
  createVolume,
  deleteVolumeFiles,
  detachFile,
  detachVolume,
  readSnapshot,
  snapshotFiles,
  snapshotKey,
  snapshotVolume,
  volumeKey,
} from './volumes.js';
import { createWorkDir, removeWorkDir } from './workdir.js';
import {
  currentWarmSnapshot,
  ensureWarmSnapshot,
  noteTestLaunch,
  restoreWarmSnapshot,
  warmBootUnsupported,
} from './warm-snapshot.js';

export interface LocalProviderOptions {
  /** Default $OVENPROOF_HOME or ~/.cache/ovenproof. */
  home?: string;
  log?: Logger;
  /** Guest memory (default 1024 MiB) and vCPUs (default 2). */
  memoryMiB?: number;
  cpus?: number;
}

export class LocalProvider implements Provider {
  readonly name = 'local' as const;
  readonly paths: LocalPaths;
  readonly store: ImageStore;
  /** Runs root-only commands directly as root or via `sudo -n`; the baker uses it for its chroot steps. */
  readonly privileged = new Privileged();
  private readonly log: Logger;
  private readonly instanceOptions: InstanceOptions;
  private warmUnsupported: Promise<string | null> | null = null;

  constructor(options: LocalProviderOptions = {}) {
    this.paths = localPaths(options.home ?? ovenproofHome());
    this.store = new ImageStore(this.paths);
    this.log = options.log ?? silentLogger;
    this.instanceOptions = {
      memoryMiB: options.memoryMiB ?? 1024,
      cpus: options.cpus ?? 2,
      terminateGraceMs: 5000,
      stopTimeoutMs: 120_000,
    };
  }

  /** Builds (or finds in the cache) the base image; see `ovenproof base build`. */
  /**
   * First-run convenience: when the base image is this host's own distribution by name (`debian-12` on
   * Debian 12) and the store has none yet, build it, so `ovenproof run` works on a fresh machine without
   * a separate `ovenproof base build`. Any other missing base is left to the baker's clear error.
   */
  async prepareBaseImage(ctx: RunContext, baseImage: string): Promise<void> {
    if ((await this.store.list({ idOrName: baseImage })).length > 0) return;
    const host = await readOsRelease();
    if (!host.codename || osNameFor(host, host.codename) !== baseImage) return;
    ctx.log.info(`no ${baseImage} base image yet: building it once (cached under ${this.paths.home})`);
    await this.buildBaseImage({ name: baseImage, log: ctx.log, progress: ctx.progress });
  }

  buildBaseImage(options: Omit<BaseBuildOptions, 'log'> & { log?: Logger }): Promise<BaseBuildResult> {
    return buildBaseImage(this.paths, this.store, { ...options, log: options.log ?? this.log });
  }

  // --- images

  listImages(query?: ImageQuery): Promise<ImageManifest[]> {
    return this.store.list(query);
  }

  describeImage(id: string): Promise<ImageManifest | null> {
    return this.store.describe(id);
  }

  async tagImage(_ctx: RunContext, id: string, tags: Record<string, string>): Promise<void> {
    // A kept image has no expiry (sweep only deletes expired resources): drop it so that sweep never considers the image.
    await this.store.tag(id, tags, tags[KEPT_TAG] === 'true' ? [EXPIRES_TAG] : []);
  }

  async untagImage(_ctx: RunContext, id: string, keys: string[]): Promise<void> {
    await this.store.tag(id, {}, keys);
  }

  async deregisterImage(ctx: RunContext, id: string): Promise<void> {
    await this.store.deregister(id);
    await ctx.journal.deleted(`image:${id}`).catch(() => undefined);
  }

  // --- volumes

  async volumeBakeUnsupported(): Promise<string | null> {
    try {
      await requireTools('the volume bake', VOLUME_TOOLS);
    } catch (error) {
      return errorMessage(error);
    }
    return this.privileged.unavailable();
  }

  async createVolume(ctx: RunContext, imageId: string): Promise<{ id: string }> {
    await this.store.require(imageId);
    return createVolume(this.paths, ctx, imageId, this.store.files(imageId).disk);
  }

  attachVolume(ctx: RunContext, volumeId: string): Promise<{ device: string }> {
    return attachVolume(this.paths, this.privileged, ctx, volumeId);
  }

  detachVolume(ctx: RunContext, volumeId: string): Promise<void> {
    return detachVolume(this.paths, this.privileged, ctx, volumeId);
  }

  snapshotVolume(ctx: RunContext, volumeId: string): Promise<{ id: string }> {
    return snapshotVolume(this.paths, this.privileged, ctx, volumeId);
  }

  async deleteVolume(ctx: RunContext, volumeId: string): Promise<void> {
    await deleteVolumeFiles(this.paths, this.privileged, volumeId);
    await ctx.journal.deleted(`attachment:${volumeId}`).catch(() => undefined);
    await ctx.journal.deleted(volumeKey(volumeId)).catch(() => undefined);
  }

  async createWorkDir(ctx: RunContext, purpose: string): Promise<string> {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(purpose)) throw new Error(`invalid work dir purpose "${purpose}"`);
    return createWorkDir(this.paths, purpose, ctx.runId);
  }

  async registerImage(
    ctx: RunContext,
    from: { snapshotId: string; manifest: Omit<ImageManifest, 'id' | 'createdAt'> },
  ): Promise<ImageManifest> {
    const snapshot = await readSnapshot(this.paths, from.snapshotId);
    const image = await this.registerDisk(
      ctx,
      snapshotFiles(this.paths, from.snapshotId).disk,
      snapshot.imageId,
      from.manifest,
    );
    await rm(snapshotFiles(this.paths, from.snapshotId).dir, { recursive: true, force: true });
    await ctx.journal.deleted(snapshotKey(from.snapshotId)).catch(() => undefined);
    return image;
  }

  /** Registers a raw disk file (moved into the store) with the kernel and initrd of `bootFrom`. */
  private async registerDisk(
    ctx: RunContext,
    disk: string,
    bootFrom: string,
    manifest: Omit<ImageManifest, 'id' | 'createdAt'>,
  ): Promise<ImageManifest> {
    const boot = await this.store.describe(bootFrom);
    if (!boot) {
      throw new PipelineError(
        'bake',
        `image ${bootFrom} (kernel and initrd of the new image) no longer exists`,
      );
    }
    const id = newImageId();
    const kept = manifest.tags[KEPT_TAG] === 'true';
    await ctx.journal.intend({ key: `image:${id}`, provider: 'local', kind: 'image', data: { id } });
    const files = this.store.files(bootFrom);
    const image = await this.store.register(
      {
        ...manifest,
        tags: {
          ...(boot.tags['ovenproof:cmdline'] ? { 'ovenproof:cmdline': boot.tags['ovenproof:cmdline'] } : {}),
          ...(boot.tags['ovenproof:kernel'] ? { 'ovenproof:kernel': boot.tags['ovenproof:kernel'] } : {}),
          'ovenproof:run-id': ctx.runId,
          ...(kept ? {} : { [EXPIRES_TAG]: ctx.expiresAt.toISOString() }),
          ...manifest.tags,
        },
      },
      { disk, kernel: files.kernel, initrd: files.initrd },
      id,
    );
    await ctx.journal.created(`image:${id}`, id);
    return image;
  }

  // --- instances

  /**
   * Test instances with `warmBoot: auto` are restored from the image's warm snapshot. The snapshot is
   * made at the image's second test launch on this host, not its first: making one boots the image
   * anyway and then saves it, which costs more than a plain cold boot, so it pays only for an image
   * that is launched again (a job on a fresh runner launches its image once). Anything that goes wrong
   * on that path costs one warning and a cold boot, never the run.
   */
  async launch(ctx: RunContext, spec: LaunchSpec): Promise<InstanceInfo> {
    await requireTools('launching a local instance', INSTANCE_TOOLS);
    if (spec.purpose === 'test') {
      const launchedBefore = await noteTestLaunch(this.paths, this.store.files(spec.imageId).dir).catch(
        (error: unknown) => {
          ctx.log.debug(`cannot note the launch of ${spec.imageId}: ${errorMessage(error)}`);
          return false;
        },
      );
      if (spec.warmBoot === 'auto') {
        const restored = await this.restore(ctx, spec, launchedBefore).catch((error: unknown) => {
          if (ctx.signal.aborted) throw error;
          ctx.log.warn(`warm boot failed, booting cold instead: ${errorMessage(error)}`);
          return null;
        });
        if (restored) return restored;
      }
    }
    return bootCold(this.paths, this.store, this.instanceOptions, ctx, spec);
  }

  private async restore(
    ctx: RunContext,
    spec: LaunchSpec,
    launchedBefore: boolean,
  ): Promise<InstanceInfo | null> {
    const why = await (this.warmUnsupported ??= warmBootUnsupported());
    if (why) {
      ctx.log.info(`warm boot is not available on this host (${why}): booting cold`);
      return null;
    }
    const image = await this.store.require(spec.imageId);
    const current = await currentWarmSnapshot(this.paths, this.store, this.instanceOptions, image);
    if (!current && !launchedBefore) {
      ctx.log.info(
        `warm boot: first launch of image ${image.id} here, booting cold (its next launch makes the warm snapshot)`,
      );
      return null;
    }
    const snapshot =
      current ??
      (await ensureWarmSnapshot(this.paths, this.store, this.privileged, this.instanceOptions, ctx, image));
    return restoreWarmSnapshot(this.paths, ctx, spec, snapshot, this.store.files(image.id).dir);
  }

  async stopInstance(ctx: RunContext, id: string): Promise<void> {
    ctx.progress({ label: `Stopping instance ${id}` });
    await stopInstance(this.paths, id, this.instanceOptions.stopTimeoutMs, ctx.log);
  }

  async createImageFromInstance(
    ctx: RunContext,
    instanceId: string,
    manifest: Omit<ImageManifest, 'id' | 'createdAt'>,
  ): Promise<ImageManifest> {
    const record = await readInstance(this.paths, instanceId);
    if (!record) throw new PipelineError('bake', `local instance ${instanceId} does not exist`);
    if (record.qemuPid && isProcessAlive(record.qemuPid) && record.state !== 'stopped') {
      throw new PipelineError('bake', `instance ${instanceId} is still running: stop it before imaging it`);
    }
    const work = await this.createWorkDir(ctx, 'image-from-instance');
    const key = `file:${work}`;
    await ctx.journal.intend({ key, provider: 'local', kind: 'file', data: { path: work } });
    try {
      const disk = join(work, 'disk.raw');
      ctx.progress({ label: 'Flattening the instance disk' });
      await mustRun('bake', 'qemu-img', [
        'convert',
        '-O',
        'raw',
        instanceFiles(this.paths, instanceId).overlay,
        disk,
      ]);
      return await this.registerDisk(ctx, disk, record.imageId, manifest);
    } finally {
      await removeWorkDir(work, this.privileged);
      await ctx.journal.deleted(key).catch(() => undefined);
    }
  }

  async captureFailureImage(
    ctx: RunContext,
    instanceId: string,
    request: FailureImageRequest,
  ): Promise<ImageManifest> {
    const work = await this.createWorkDir(ctx, 'failure-image');
    const key = `file:${work}`;
    await ctx.journal.intend({ key, provider: 'local', kind: 'file', data: { path: work } });
    try {
      const { disk, imageId } = await copyRunningInstanceDisk(this.paths, ctx, instanceId, work);
      const parent = await this.store.require(imageId);
      const image = await this.registerDisk(ctx, disk, imageId, {
        name: `failure-of-${ctx.runId}`,
        os: parent.os,
        arch: parent.arch,
        parent: parent.id,
        packages: parent.packages,
        bakeKey: null,
        tags: failureImageTags(ctx.runId, request),
      });
      await ctx.journal.kept(`image:${image.id}`);
      return image;
    } finally {
      await removeWorkDir(work, this.privileged);
      await ctx.journal.deleted(key).catch(() => undefined);
    }
  }

  async terminate(ctx: RunContext, id: string): Promise<void> {
    await destroyInstance(this.paths, id, this.instanceOptions.terminateGraceMs, ctx.log);
    await ctx.journal.deleted(instanceKey(id)).catch(() => undefined);
  }

  /** Marks an instance kept (keep-instance): sweep then removes it only after its expiry. */
  async keepInstance(id: string): Promise<void> {
    const record = await readInstance(this.paths, id);
    if (!record) throw new PipelineError('teardown', `local instance ${id} does not exist`);
    await writeInstance(this.paths, { ...record, kept: true });
  }

  async consoleOutput(id: string): Promise<string> {
    return readFile(instanceFiles(this.paths, id).console, 'utf8').catch(() => '');
  }

  // --- cleanup

  async deleteResource(entry: LedgerEntry, log: Logger): Promise<void> {
    const data = entry.data;
    const id = data.id ?? entry.id ?? entry.key.slice(entry.key.indexOf(':') + 1);
    switch (entry.kind) {
      case 'instance':
        return destroyInstance(this.paths, id, 3000, log);
      case 'volume':
        return deleteVolumeFiles(this.paths, this.privileged, id);
      case 'attachment': {
        const backing = data.backingFile;
        if (backing) return detachFile(this.privileged, backing);
        return;
      }
      case 'snapshot':
        return rm(snapshotFiles(this.paths, id).dir, { recursive: true, force: true });
      case 'image':
        await this.store.deregister(id);
        return;
      case 'mount': {
        const path = data.path ?? entry.id;
        if (!path || !(await mountsBelow(path)).includes(path)) return;
        for (const point of await mountsBelow(path)) {
          if ((await this.privileged.run('umount', [point])).code !== 0) {
            await this.privileged.mustRun('teardown', 'umount', ['-l', point]);
          }
        }
        return;
      }
      case 'file': {
        const path = data.path ?? entry.id;
        if (!path) return;
        if ((await mountsBelow(path)).length) {
          throw new PipelineError(
            'teardown',
            `${path} still has mounts below it; delete the mount entries first`,
          );
        }
        // Root-owned scratch (a rootfs) is removed with privileges, but only inside the provider's home.
        if (path.startsWith(`${this.paths.home}/`)) await removeWorkDir(path, this.privileged);
        else await rm(path, { recursive: true, force: true });
        return;
      }
      case 'process': {
        const pid = Number(data.pid ?? entry.id);
        if (Number.isInteger(pid) && pid > 0 && isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
        return;
      }
      default:
        log.debug(`local provider: nothing to delete for a ${entry.kind} entry (${entry.key})`);
    }
  }

  sweep(options: SweepOptions, log: Logger): Promise<SweptResource[]> {
    return sweepLocal(this.paths, this.store, this.privileged, options, log);
  }
}

export function createLocalProvider(options: LocalProviderOptions = {}): LocalProvider {
  return new LocalProvider(options);
}
