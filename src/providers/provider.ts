/**
 * The Provider contract. `local` (QEMU + files) and `ec2` implement it; the baker and the
 * pipeline only ever talk to this interface. Providers never import the pipeline: the resource ledger
 * reaches them as a `ResourceJournal`, progress and logs through `RunContext`.
 */
import type { Logger, ProgressSink } from '../common/log.js';

export type { ProviderName, ResourceKind } from '../common/run-result.js';
import type { ProviderName, ResourceKind } from '../common/run-result.js';

export type ResourceState = 'creating' | 'live' | 'deleted' | 'kept';

/** One line of the durable ledger: what a run created, written before each create call. */
export interface LedgerEntry {
  /** Unique within the run, chosen before creation (e.g. the ClientToken, or a file path). */
  key: string;
  provider: ProviderName;
  kind: ResourceKind;
  /** Provider id once known; null while the create call has not returned. */
  id: string | null;
  region?: string;
  state: ResourceState;
  createdAt: string;
  deletedAt: string | null;
  /** Whatever the provider needs to find and delete it later (client token, backing file, pid…). */
  data: Record<string, string>;
}

/**
 * Durable record of every resource a run creates. `intend` MUST be awaited before the call that
 * creates the resource, so that a crash at any point leaves a trace that `post`/`sweep` can clean.
 */
export interface ResourceJournal {
  intend(entry: {
    key: string;
    provider: ProviderName;
    kind: ResourceKind;
    region?: string;
    data?: Record<string, string>;
  }): Promise<void>;
  created(key: string, id: string, data?: Record<string, string>): Promise<void>;
  deleted(key: string): Promise<void>;
  kept(key: string): Promise<void>;
}

/** Everything a provider call needs about the run it serves. */
export interface RunContext {
  runId: string;
  /** Goes on every resource as `ovenproof:expires-at`; sweep deletes what is past it, so a crashed run cannot leak resources for long. */
  expiresAt: Date;
  journal: ResourceJournal;
  signal: AbortSignal;
  log: Logger;
  progress: ProgressSink;
  /** Extra tags for every resource (repository, commit). */
  tags: Record<string, string>;
}

export type Architecture = 'x86_64' | 'arm64';

/** Image description shared by both providers; the local store keeps it as manifest JSON, EC2 as tags. */
export interface ImageManifest {
  id: string;
  name: string;
  /** Distribution id, e.g. `debian-12`. */
  os: string;
  arch: Architecture;
  /** Image this one was baked from; null for a base image. */
  parent: string | null;
  createdAt: string;
  /** Installed package set, name → version (dpkg-query). */
  packages: Record<string, string>;
  /** The bake key (sha256 over everything that decides the image's content); null for a base image. */
  bakeKey: string | null;
  /** Free-form tags (`ovenproof:tested=true`, `ovenproof:kept=true`, …). */
  tags: Record<string, string>;
  /**
   * Bytes on disk and the filesystem's nominal size, where known; local images with a warm snapshot
   * also give its cost (saved memory state plus its disk's own blocks).
   */
  sizes?: { diskBytes?: number; allocatedBytes?: number; warmSnapshotBytes?: number };
}

export interface ImageQuery {
  /** Exact id, or a name, or `key=value` filters matched against the manifest / tags. */
  idOrName?: string;
  filters?: Record<string, string>;
  bakeKey?: string;
}

/** Ephemeral per-run identity delivered on the seed disk (local) or in user data (ec2). */
export interface InstanceIdentity {
  hostname: string;
  /** OpenSSH public key line of the run's client key. */
  authorizedKey: string;
  /** The run's host key in OpenSSH private-key format, and its public line. */
  hostKeyPrivate: string;
  hostKeyPublic: string;
}

export interface LaunchSpec {
  imageId: string;
  /** `test` instances and bake `builder`s differ in tags and defaults only. */
  purpose: 'test' | 'builder';
  identity: InstanceIdentity;
  /** Dead-man switch: the instance powers itself off after this long. */
  ttlMs: number;
  sshUser: string;
  /** EC2: fallback order on capacity errors. */
  instanceTypes?: string[];
  spot?: boolean;
  /** Local: restore the image's warm snapshot when possible (`auto`) or boot cold (`never`, the default). */
  warmBoot?: 'auto' | 'never';
}

export interface InstanceInfo {
  id: string;
  /** Address SSH connects to (127.0.0.1 locally). */
  host: string;
  port: number;
  user: string;
  /** The host key the instance must present (the public line of identity.hostKeyPublic). */
  hostKeyPublic: string;
  /**
   * Optional early "network is up" probe: a port that the guest answers with a TCP reset as soon as
   * its network is configured (QEMU user-mode networking accepts forwarded connections before the guest
   * is up, so the SSH port alone cannot tell). SSH readiness polls it first.
   */
  networkProbe?: { host: string; port: number };
  /** How the instance came up, where the provider can tell (local: cold boot or warm-snapshot restore). */
  boot?: 'cold' | 'restored';
  /** Timed parts of the launch, in order (local: `boot`, or `restore` and `identity`). */
  steps?: Array<{ name: string; startedAt: string; durationMs: number }>;
}

/** What a failure image records about the run whose failing instance it captured. */
export interface FailureImageRequest {
  /** Commit the failed run tested, tagged `ovenproof:commit`. */
  commit: string | null;
  /** Names of the failing tests (the tag keeps as many as fit). */
  failingTests: string[];
  /** Tagged `ovenproof:expires-at`: sweep retires the image after it (`failure-snapshot-ttl`). */
  expiresAt: Date;
}

export interface SweepOptions {
  /** Only resources created more than this long ago (in addition to an expiry in the past). */
  olderThanMs?: number;
  dryRun: boolean;
  regions?: string[];
}

export interface SweptResource {
  kind: ResourceKind;
  id: string;
  region?: string;
  reason: string;
  deleted: boolean;
  /** Why it could not be deleted (operation, EC2's code and message…); absent when deleted or not tried. */
  error?: string;
}

export interface Provider {
  readonly name: ProviderName;

  // --- images
  listImages(query?: ImageQuery): Promise<ImageManifest[]>;
  describeImage(id: string): Promise<ImageManifest | null>;
  /** Adds or replaces tags on an image (e.g. `ovenproof:tested`, `ovenproof:kept`). */
  tagImage(ctx: RunContext, id: string, tags: Record<string, string>): Promise<void>;
  /** Removes tags from an image (a run's lease when it is done with a cached image). */
  untagImage(ctx: RunContext, id: string, keys: string[]): Promise<void>;
  /** Optional: makes a missing base image available before selection (local: builds the host's own distribution). */
  prepareBaseImage?(ctx: RunContext, baseImage: string): Promise<void>;
  /** Deregisters the image and deletes its snapshots / files. */
  deregisterImage(ctx: RunContext, id: string): Promise<void>;

  // --- volume bake (copy the base volume, attach it here, chroot). `volumeBakeUnsupported` returns why it can't be used here, or null.
  volumeBakeUnsupported(): Promise<string | null>;
  createVolume(ctx: RunContext, imageId: string): Promise<{ id: string }>;
  /** Attaches the volume to this host and returns its block device path (e.g. /dev/loop3, /dev/nvme1n1). */
  attachVolume(ctx: RunContext, volumeId: string): Promise<{ device: string }>;
  detachVolume(ctx: RunContext, volumeId: string): Promise<void>;
  snapshotVolume(ctx: RunContext, volumeId: string): Promise<{ id: string }>;
  deleteVolume(ctx: RunContext, volumeId: string): Promise<void>;
  /**
   * Optional: a new, empty scratch folder on this host owned by the calling process, for a volume bake's
   * mount points. The provider's sweep unmounts whatever is left below it and deletes it once its owner
   * process is gone. Without it the baker uses `$OVENPROOF_HOME/work` and the run's ledger.
   */
  createWorkDir?(ctx: RunContext, purpose: string): Promise<string>;
  registerImage(
    ctx: RunContext,
    from: { snapshotId: string; manifest: Omit<ImageManifest, 'id' | 'createdAt'> },
  ): Promise<ImageManifest>;

  /** Optional: copies a kept image to other regions (EC2 `regions`), returning each copy's id. */
  copyImage?(
    ctx: RunContext,
    imageId: string,
    regions: string[],
  ): Promise<Array<{ region: string; id: string }>>;

  // --- instances
  launch(ctx: RunContext, spec: LaunchSpec): Promise<InstanceInfo>;
  /** Clean power-off, waiting until stopped (instance bake). */
  stopInstance(ctx: RunContext, id: string): Promise<void>;
  /** Image a stopped builder instance (instance bake). */
  createImageFromInstance(
    ctx: RunContext,
    instanceId: string,
    manifest: Omit<ImageManifest, 'id' | 'createdAt'>,
  ): Promise<ImageManifest>;
  /**
   * Optional: captures a running instance's disk as a new image tagged `ovenproof:failure-of=RUN_ID`
   * (see failureImageTags), leaving the instance running and its image untouched. Booting the capture
   * runs the identity init again: a new host key, machine-id and hostname. The image is journaled as kept:
   * it outlives the run until its expiry.
   */
  captureFailureImage?(
    ctx: RunContext,
    instanceId: string,
    request: FailureImageRequest,
  ): Promise<ImageManifest>;
  terminate(ctx: RunContext, id: string): Promise<void>;
  /** Optional: marks an instance kept for debugging (`keep-instance`), so sweep spares it until its expiry. */
  keepInstance?(id: string): Promise<void>;
  consoleOutput(id: string): Promise<string>;
  /**
   * Optional: why the instance can no longer answer (it stopped, terminated or vanished, with the
   * provider's reason), or null while it may still. Waits for SSH poll it to stop early.
   */
  whyInstanceEnded?(id: string): Promise<string | null>;

  // --- cleanup
  /**
   * Deletes whatever a ledger entry describes; idempotent, "already gone" is success. For an entry
   * without an id (its create answer was lost) it may return the id of the resource it found.
   */
  deleteResource(entry: LedgerEntry, log: Logger): Promise<string | null | void>;
  /** Deletes resources tagged by ovenproof whose expiry is past; never untagged ones. */
  sweep(options: SweepOptions, log: Logger): Promise<SweptResource[]>;
}

/** The run's configuration as far as providers read it (the ovenproof.yml keys about where to run). */
export interface ProviderConfig {
  region: string | null;
  regions: string[];
  subnetId: string | null;
  securityGroupId: string | null;
  sshCidr: string | null;
  instanceType: string[];
  spot: boolean;
}

/**
 * One line of the provider registry (src/providers/registry.ts): everything the rest of ovenproof needs
 * to offer a provider by name. Each provider folder exports its entry.
 */
export interface ProviderEntry {
  readonly name: ProviderName;
  /** Defaults of the config keys whose sensible value depends on the provider. */
  readonly defaults: { baseImage: string; sshUser: string };
  /**
   * The provider's settings from the config and the environment: plain JSON, stored in the ledger so
   * that the Action's post step and `sweep --ledger` can rebuild the provider in a fresh process.
   */
  settingsFrom(config: ProviderConfig, env: NodeJS.ProcessEnv): Record<string, unknown>;
  /** Validates settings (from `settingsFrom` or a ledger) against the provider's schema and builds it. */
  create(settings: Record<string, unknown>, log: Logger): Promise<Provider>;
}
