/**
 * The state bag the bake steps share (Packer's `multistep.StateBag`, typed). Both strategies extend
 * `BakeState`; the steps they have in common only read and write its fields.
 */
import type { ImageManifest, InstanceInfo, Provider, RunContext } from '../../providers/provider.js';
import type { SshSession } from '../../ssh/index.js';
import type { CommandRunner } from '../../common/host/command.js';
import type { IndexCache } from '../index-cache.js';
import type { OsPlugin } from '../os/plugin.js';
import type { BakeTarget, ChrootTarget, SshBakeTarget } from '../target.js';

export interface PackageFile {
  /** Path on this host. */
  path: string;
  /** Content digest: what the package installs (feeds the bake key). */
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

export interface BakeState {
  provider: Provider;
  ctx: RunContext;
  bake: PreparedBake;
  /** Where commands run: the mounted volume's chroot, or the builder over SSH. */
  target: BakeTarget | null;
  /** Host folder of the image's root while it is mounted here (volume bake); null on a live builder. */
  root: string | null;
  /** Host cache of package lists and archives; only usable when `root` is a host folder. */
  indexCache: IndexCache | null;
  /** Digest of the image's package sources, keying the host cache. */
  sourcesDigest: string | null;
  /** Paths of the package files once uploaded to the target. */
  staged: string[] | null;
  packages: Record<string, string> | null;
  image: ImageManifest | null;
}

export interface VolumeState extends BakeState {
  target: ChrootTarget | null;
  run: CommandRunner;
  /** Parent folder of the bake's mount point when the provider has no `createWorkDir`. */
  workDir: string;
  volumeId: string | null;
  volumeGone: boolean;
  attached: boolean;
  device: string | null;
  fsDevice: string | null;
  dir: string | null;
  dirKey: string | null;
  snapshotId: string | null;
}

export interface InstanceState extends BakeState {
  target: SshBakeTarget | null;
  sshTimeoutMs: number;
  /** Dead-man switch of the builder. */
  builderTtlMs: number;
  clientKey: string | null;
  instance: InstanceInfo | null;
  terminated: boolean;
  session: SshSession | null;
}

/** A value an earlier step produces; its absence means the step order is wrong. */
export function need<T>(value: T | null, what: string): T {
  if (value === null) throw new Error(`bake: ${what} is not available (an earlier step did not run)`);
  return value;
}

/** Tags every baked image carries, so sweep can find and expire it. */
export function bakeTags(ctx: RunContext): Record<string, string> {
  return { ...ctx.tags, 'ovenproof:run-id': ctx.runId, 'ovenproof:expires-at': ctx.expiresAt.toISOString() };
}

/** The manifest both strategies register: parent, package set, bake key and tags. */
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
