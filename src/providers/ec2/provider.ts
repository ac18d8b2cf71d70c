/**
 * The EC2 implementation of the Provider contract (SPEC §1.2) on @aws-sdk/client-ec2: test instances
 * and bake builders, both bake strategies (SPEC §1.3), per-run identity in user data (SPEC §1.4), and
 * the cleanup guarantees of SPEC §1.1 (ledger entry before every create, tags with an expiry,
 * idempotent deletes, sweep).
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  AttachVolumeCommand,
  AuthorizeSecurityGroupIngressCommand,
  CopyImageCommand,
  CreateImageCommand,
  CreateSecurityGroupCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteSecurityGroupCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeleteVolumeCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  GetConsoleOutputCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  waitUntilImageAvailable,
  waitUntilInstanceRunning,
  waitUntilInstanceStopped,
  waitUntilInstanceTerminated,
  waitUntilSnapshotCompleted,
  waitUntilVolumeAvailable,
  waitUntilVolumeInUse,
  type BlockDeviceMapping,
  type EC2Client,
  type Filter,
  type Image,
  type Instance,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { CAPACITY_CODES } from './aws.js';
import type { Logger } from '../../common/log.js';
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
import {
  Ec2Error,
  call,
  describeFailure,
  isClientError,
  createClient,
  errorCode,
  isNotFound,
  probePermission,
  retryNotFound,
  sleep,
  waitFor,
  waiterConfig,
} from './aws.js';
import { chooseDevice, resolveDevice, withHostLock } from './devices.js';
import { Imds, type HostIdentity } from './imds.js';
import { detectPublicAddress } from './public-address.js';
import { parseEc2Settings, type Ec2ProviderOptions, type Ec2Settings } from './settings.js';
import { TAG, fromTagList, isoSeconds, manifestFromImage, manifestTags, runTags, tagSpecs } from './tags.js';
import { buildUserData } from './user-data.js';
import { sweepRegion } from './sweep.js';
import { createFailureImage } from './failure-image.js';

/** Official Debian AMIs are published by this account; `debian-12` resolves among them. */
const DEBIAN_OWNER = '136693071363';

export interface ImageCopy {
  region: string;
  id: string;
}

export class Ec2Provider implements Provider {
  readonly name = 'ec2' as const;
  readonly settings: Ec2Settings;
  private readonly credentials: Ec2ProviderOptions['credentials'];
  private readonly resolvePublicAddress: () => Promise<string>;
  private readonly clients = new Map<string, EC2Client>();
  private readonly probed = new Set<string>();
  private readonly imds: Imds;
  private hostPromise: Promise<HostIdentity | null> | null = null;
  private sequence = 0;
  /** Ledger key of every resource this process created, by provider id. */
  private readonly keys = new Map<string, string>();
  /** Temporary security group created for an instance, deleted after it terminates. */
  private readonly instanceGroups = new Map<string, { key: string; groupId: string }>();

  constructor(options: Ec2ProviderOptions) {
    const { credentials, resolvePublicAddress, log: _log, ...settings } = options;
    this.settings = parseEc2Settings(settings);
    this.credentials = credentials;
    this.resolvePublicAddress = resolvePublicAddress ?? (() => detectPublicAddress());
    this.imds = new Imds(this.settings.imdsEndpoint, this.settings.imdsTimeoutMs);
  }

  /** Plain JSON that rebuilds this provider in another process (`createEc2Provider(json)`). */
  toJSON(): Ec2Settings {
    return this.settings;
  }

  client(region: string = this.settings.region): EC2Client {
    let client = this.clients.get(region);
    if (!client) {
      client = createClient(this.settings, region, this.credentials);
      this.clients.set(region, client);
    }
    return client;
  }

  private consistency(signal?: AbortSignal) {
    return {
      timeoutMs: this.settings.consistencyTimeoutMs,
      baseMs: Math.max(10, Math.round(this.settings.pollIntervalMs / 5)),
      ...(signal ? { signal } : {}),
    };
  }

  /** A ClientToken (≤ 64 ASCII) unique per run, purpose and attempt, stable across SDK retries. */
  private token(ctx: RunContext, what: string): string {
    this.sequence += 1;
    const readable = `${ctx.runId}-${what}-${this.sequence}`.replace(/[^A-Za-z0-9_.-]/g, '_');
    if (readable.length <= 64) return readable;
    const hash = createHash('sha256').update(readable).digest('hex').slice(0, 24);
    return `${readable.slice(0, 39)}-${hash}`;
  }

  private async remember(ctx: RunContext, key: string, id: string, data?: Record<string, string>) {
    this.keys.set(id, key);
    await ctx.journal.created(key, id, data);
  }

  private async forget(ctx: RunContext | null, id: string) {
    const key = this.keys.get(id);
    if (key && ctx) await ctx.journal.deleted(key);
    this.keys.delete(id);
  }

  // ---------------------------------------------------------------------------------------- images

  async listImages(query: ImageQuery = {}): Promise<ImageManifest[]> {
    const input: { ImageIds?: string[]; Owners?: string[]; Filters: Filter[] } = { Filters: [] };
    let available = true;
    if (query.bakeKey) {
      input.Owners = ['self'];
      input.Filters.push({ Name: `tag:${TAG.bakeKey}`, Values: [query.bakeKey] });
    }
    if (query.idOrName) {
      if (/^ami-[0-9a-f]+$/.test(query.idOrName)) {
        input.ImageIds = [query.idOrName];
      } else {
        const debian = /^debian-(\d+)$/.exec(query.idOrName);
        input.Owners ??= debian ? [DEBIAN_OWNER] : ['self', 'amazon', DEBIAN_OWNER];
        input.Filters.push({
          Name: 'name',
          Values: [debian ? `debian-${debian[1]}-amd64-*` : query.idOrName],
        });
      }
    }
    for (const [key, value] of Object.entries(query.filters ?? {})) {
      if (key === 'owner') input.Owners = value.split(',');
      else if (key === 'name' || key === 'architecture' || key === 'image-id') {
        input.Filters.push({ Name: key, Values: [value] });
      } else input.Filters.push({ Name: `tag:${key}`, Values: [value] });
    }
    if (!query.bakeKey && !query.idOrName && !query.filters) {
      input.Owners = ['self'];
      input.Filters.push({ Name: 'tag-key', Values: [TAG.runId] });
      available = false;
    }
    if (available) input.Filters.push({ Name: 'state', Values: ['available'] });
    const images = await this.describeImages(this.client(), input);
    return images
      .map(manifestFromImage)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
  }

  private async describeImages(
    client: EC2Client,
    input: { ImageIds?: string[]; Owners?: string[]; Filters?: Filter[] },
  ): Promise<Image[]> {
    const out: Image[] = [];
    let NextToken: string | undefined;
    do {
      const res = await call('DescribeImages', () =>
        client.send(new DescribeImagesCommand({ ...input, ...(NextToken ? { NextToken } : {}) })),
      );
      out.push(...(res.Images ?? []));
      NextToken = res.NextToken;
    } while (NextToken);
    return out;
  }

  private async rawImage(id: string, region?: string): Promise<Image | null> {
    try {
      const res = await this.client(region).send(new DescribeImagesCommand({ ImageIds: [id] }));
      return res.Images?.[0] ?? null;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw new Ec2Error('DescribeImages', errorCode(error), `ec2:DescribeImages for ${id} failed`, {
        cause: error,
      });
    }
  }

  async describeImage(id: string): Promise<ImageManifest | null> {
    // A name such as `debian-12` is not an AMI id: EC2 would answer InvalidAMIID.Malformed, which is
    // "no such image" for callers that try an id before a name lookup.
    if (!/^ami-[0-9a-f]+$/.test(id)) return null;
    const image = await this.rawImage(id);
    return image && image.State !== 'deregistered' ? manifestFromImage(image) : null;
  }

  async tagImage(ctx: RunContext, id: string, tags: Record<string, string>): Promise<void> {
    const image = await this.rawImage(id);
    if (!image) throw new Error(`image ${id} not found in ${this.settings.region}`);
    const snapshots = snapshotIdsOf(image);
    const resources = [id, ...snapshots];
    await call('CreateTags', () =>
      this.client().send(
        new CreateTagsCommand({
          Resources: resources,
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
        }),
      ),
    );
    if (tags[TAG.kept] === 'true') {
      // A kept image has no expiry (SPEC §1.1): sweep must never delete it or its snapshots.
      await call('DeleteTags', () =>
        this.client().send(new DeleteTagsCommand({ Resources: resources, Tags: [{ Key: TAG.expiresAt }] })),
      );
      for (const resource of resources) {
        const key = this.keys.get(resource);
        if (key) await ctx.journal.kept(key);
      }
    }
  }

  async deregisterImage(ctx: RunContext, id: string): Promise<void> {
    await this.deleteImage(this.client(), id, ctx.log);
    await this.forget(ctx, id);
  }

  /** Deregisters an image and deletes its snapshots (DeregisterImage alone leaves them behind). */
  private async deleteImage(client: EC2Client, id: string, log: Logger): Promise<void> {
    let image: Image | undefined;
    try {
      image = (await client.send(new DescribeImagesCommand({ ImageIds: [id] }))).Images?.[0];
    } catch (error) {
      if (!isNotFound(error))
        throw new Ec2Error('DescribeImages', errorCode(error), `ec2:DescribeImages for ${id} failed`, {
          cause: error,
        });
    }
    if (!image || image.State === 'deregistered') {
      log.debug(`image ${id} is already gone`);
      return;
    }
    await call('DeregisterImage', () => client.send(new DeregisterImageCommand({ ImageId: id }))).catch(
      (error) => {
        if (!isNotFound(error.cause)) throw error;
      },
    );
    for (const snapshotId of snapshotIdsOf(image)) await this.deleteSnapshot(client, snapshotId, log);
    log.info(`deregistered image ${id}`);
  }

  private async deleteSnapshot(client: EC2Client, id: string, log: Logger): Promise<void> {
    // Right after DeregisterImage the snapshot may still count as in use for a few seconds.
    const deadline = Date.now() + this.settings.consistencyTimeoutMs;
    for (let delay = this.consistency().baseMs; ; delay = Math.min(delay * 2, 10_000)) {
      try {
        await client.send(new DeleteSnapshotCommand({ SnapshotId: id }));
        log.debug(`deleted snapshot ${id}`);
        return;
      } catch (error) {
        if (isNotFound(error)) return;
        if (errorCode(error) !== 'InvalidSnapshot.InUse' || Date.now() + delay > deadline) {
          throw new Ec2Error(
            'DeleteSnapshot',
            errorCode(error),
            `ec2:DeleteSnapshot ${id} failed: ${errorCode(error)}`,
            {
              cause: error,
            },
          );
        }
        await sleep(delay);
      }
    }
  }

  /** Copies an image to other regions (default: the `regions` setting); copies keep the tags. */
  async copyImage(ctx: RunContext, imageId: string, regions = this.settings.regions): Promise<ImageCopy[]> {
    const source = await this.rawImage(imageId);
    if (!source) throw new Error(`image ${imageId} not found in ${this.settings.region}`);
    const kept = fromTagList(source.Tags)[TAG.kept] === 'true';
    const copies: ImageCopy[] = [];
    for (const region of regions.filter((r) => r !== this.settings.region)) {
      const client = this.client(region);
      const key = `image-copy:${region}:${imageId}`;
      const token = createHash('sha256')
        .update(`${ctx.runId}:${imageId}:${region}`)
        .digest('hex')
        .slice(0, 64);
      await ctx.journal.intend({ key, provider: 'ec2', kind: 'image', region, data: { clientToken: token } });
      const res = await call('CopyImage', () =>
        client.send(
          new CopyImageCommand({
            SourceImageId: imageId,
            SourceRegion: this.settings.region,
            Name: source.Name ?? imageId,
            Description: `copy of ${imageId} from ${this.settings.region}`,
            ClientToken: token,
            CopyImageTags: true,
          }),
        ),
      );
      const id = res.ImageId!;
      await this.remember(ctx, key, id);
      await this.waitImage(client, id, ctx.signal);
      if (kept) await ctx.journal.kept(key);
      ctx.log.info(`copied image ${imageId} to ${region} as ${id}`);
      copies.push({ region, id });
    }
    return copies;
  }

  private async waitImage(client: EC2Client, id: string, signal?: AbortSignal): Promise<Image> {
    await probePermission(
      await client.config.region(),
      'DescribeImages',
      () => client.send(new DescribeImagesCommand({ ImageIds: [id], DryRun: true })),
      this.probed,
    );
    const max = this.settings.waitTimeoutsMs.imageAvailable;
    await waitFor(
      `image ${id} to become available`,
      'DescribeImages',
      max,
      () => waitUntilImageAvailable(waiterConfig(client, this.settings, max, signal), { ImageIds: [id] }),
      async () => {
        const image = (await client.send(new DescribeImagesCommand({ ImageIds: [id] }))).Images?.[0];
        return image
          ? `state ${image.State}${image.StateReason?.Message ? `: ${image.StateReason.Message}` : ''}`
          : '';
      },
    );
    const image = (await client.send(new DescribeImagesCommand({ ImageIds: [id] }))).Images?.[0];
    if (!image) throw new Error(`image ${id} vanished after becoming available`);
    return image;
  }

  private imageName(manifest: Omit<ImageManifest, 'id' | 'createdAt'>): string {
    const stamp = isoSeconds(new Date()).replace(/[:]/g, '').replace(/Z$/, 'Z');
    const base = manifest.name.replace(/[^A-Za-z0-9()[\]./\-'@_ ]/g, '-').slice(0, 90);
    return `${base}-${stamp}-${randomBytes(3).toString('hex')}`;
  }

  // -------------------------------------------------------------------------------- volume bake

  private host(): Promise<HostIdentity | null> {
    this.hostPromise ??= this.imds.host().catch(() => null);
    return this.hostPromise;
  }

  async volumeBakeUnsupported(): Promise<string | null> {
    const host = await this.host();
    if (!host) {
      return `ovenproof is not running on an EC2 instance (no IMDSv2 answer at ${this.settings.imdsEndpoint}); the volume bake needs a baker host in the volume's availability zone`;
    }
    if (host.region !== this.settings.region) {
      return `this host runs in ${host.region} but images are baked in ${this.settings.region}`;
    }
    return null;
  }

  private async requireHost(): Promise<HostIdentity> {
    const reason = await this.volumeBakeUnsupported();
    if (reason) throw new Error(`volume bake unavailable: ${reason}`);
    return (await this.host())!;
  }

  async createVolume(ctx: RunContext, imageId: string): Promise<{ id: string }> {
    const host = await this.requireHost();
    const client = this.client();
    const image = await this.rawImage(imageId);
    if (!image) throw new Error(`base image ${imageId} not found in ${this.settings.region}`);
    const root = rootMapping(image);
    if (!root?.Ebs?.SnapshotId)
      throw new Error(
        `base image ${imageId} has no EBS root snapshot (instance-store AMIs cannot be volume-baked)`,
      );
    const token = this.token(ctx, 'vol');
    const key = `volume:${token}`;
    await ctx.journal.intend({
      key,
      provider: 'ec2',
      kind: 'volume',
      region: this.settings.region,
      data: { clientToken: token },
    });
    const res = await call('CreateVolume', () =>
      client.send(
        new CreateVolumeCommand({
          SnapshotId: root.Ebs!.SnapshotId,
          AvailabilityZone: host.availabilityZone,
          VolumeType: this.settings.volumeType,
          ClientToken: token,
          TagSpecifications: tagSpecs(['volume'], runTags(ctx, key, { [TAG.purpose]: 'bake-volume' })),
        }),
      ),
    );
    const id = res.VolumeId!;
    await this.remember(ctx, key, id);
    await this.waitVolume(client, id, 'available', ctx.signal);
    return { id };
  }

  private async waitVolume(
    client: EC2Client,
    id: string,
    state: 'available' | 'in-use',
    signal?: AbortSignal,
  ) {
    await probePermission(
      await client.config.region(),
      'DescribeVolumes',
      () => client.send(new DescribeVolumesCommand({ VolumeIds: [id], DryRun: true })),
      this.probed,
    );
    const max = this.settings.waitTimeoutsMs.volume;
    const waiter = state === 'available' ? waitUntilVolumeAvailable : waitUntilVolumeInUse;
    await waitFor(`volume ${id} to be ${state}`, 'DescribeVolumes', max, () =>
      waiter(waiterConfig(client, this.settings, max, signal), { VolumeIds: [id] }),
    );
  }

  async attachVolume(ctx: RunContext, volumeId: string): Promise<{ device: string }> {
    const host = await this.requireHost();
    const client = this.client();
    const key = `attachment:${volumeId}`;
    const requested = await withHostLock(
      this.settings.lockDir,
      'ec2-attach',
      this.settings.waitTimeoutsMs.volume,
      async () => {
        const self = await this.describeInstance(client, host.instanceId);
        const used = new Set((self?.BlockDeviceMappings ?? []).map((m) => m.DeviceName ?? ''));
        const device = await chooseDevice(this.settings.deviceRoot, used);
        await ctx.journal.intend({
          key,
          provider: 'ec2',
          kind: 'attachment',
          region: this.settings.region,
          data: { volumeId, instanceId: host.instanceId, device },
        });
        await call('AttachVolume', () =>
          client.send(
            new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: host.instanceId, Device: device }),
          ),
        );
        await ctx.journal.created(key, volumeId);
        // Hold the lock until EC2 shows the attachment, so the next bake sees the name as taken.
        await this.waitVolume(client, volumeId, 'in-use', ctx.signal);
        return device;
      },
    );
    const device = await resolveDevice(
      this.settings.deviceRoot,
      volumeId,
      requested,
      this.settings.waitTimeoutsMs.deviceAppears,
      Math.min(500, this.settings.pollIntervalMs),
    );
    ctx.log.info(`attached ${volumeId} as ${requested} → ${device}`);
    return { device };
  }

  async detachVolume(ctx: RunContext, volumeId: string): Promise<void> {
    const client = this.client();
    await this.detach(client, volumeId);
    await this.waitVolume(client, volumeId, 'available', ctx.signal);
    await ctx.journal.deleted(`attachment:${volumeId}`).catch(() => undefined);
  }

  /** DetachVolume; "not attached" and "no such volume" count as done. */
  private async detach(client: EC2Client, volumeId: string): Promise<void> {
    try {
      await client.send(new DetachVolumeCommand({ VolumeId: volumeId }));
    } catch (error) {
      const code = errorCode(error);
      if (isNotFound(error) || code === 'IncorrectState') return;
      throw new Ec2Error('DetachVolume', code, `ec2:DetachVolume ${volumeId} failed: ${code}`, {
        cause: error,
      });
    }
  }

  async snapshotVolume(ctx: RunContext, volumeId: string): Promise<{ id: string }> {
    const client = this.client();
    const key = `snapshot:${this.token(ctx, 'snap')}`;
    await ctx.journal.intend({
      key,
      provider: 'ec2',
      kind: 'snapshot',
      region: this.settings.region,
      data: { volumeId },
    });
    const res = await call('CreateSnapshot', () =>
      client.send(
        new CreateSnapshotCommand({
          VolumeId: volumeId,
          Description: `ovenproof bake ${ctx.runId}`,
          TagSpecifications: tagSpecs(['snapshot'], runTags(ctx, key)),
        }),
      ),
    );
    const id = res.SnapshotId!;
    await this.remember(ctx, key, id);
    await probePermission(
      await client.config.region(),
      'DescribeSnapshots',
      () => client.send(new DescribeSnapshotsCommand({ SnapshotIds: [id], DryRun: true })),
      this.probed,
    );
    const max = this.settings.waitTimeoutsMs.snapshotCompleted;
    await retryNotFound(
      'DescribeSnapshots',
      () => client.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] })),
      this.consistency(ctx.signal),
    );
    await waitFor(`snapshot ${id} to complete`, 'DescribeSnapshots', max, () =>
      waitUntilSnapshotCompleted(waiterConfig(client, this.settings, max, ctx.signal), { SnapshotIds: [id] }),
    );
    return { id };
  }

  async deleteVolume(ctx: RunContext, volumeId: string): Promise<void> {
    await this.removeVolume(this.client(), volumeId, ctx.log);
    await this.forget(ctx, volumeId);
  }

  private async removeVolume(client: EC2Client, volumeId: string, log: Logger): Promise<void> {
    const volume = await client
      .send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))
      .then((r) => r.Volumes?.[0])
      .catch((error) => {
        if (isNotFound(error)) return undefined;
        throw new Ec2Error('DescribeVolumes', errorCode(error), `ec2:DescribeVolumes ${volumeId} failed`, {
          cause: error,
        });
      });
    if (!volume || volume.State === 'deleted' || volume.State === 'deleting') return;
    if (volume.State === 'in-use') {
      await this.detach(client, volumeId);
      await this.waitVolume(client, volumeId, 'available');
    }
    await call('DeleteVolume', () => client.send(new DeleteVolumeCommand({ VolumeId: volumeId }))).catch(
      (error) => {
        if (!isNotFound(error.cause)) throw error;
      },
    );
    log.info(`deleted volume ${volumeId}`);
  }

  async registerImage(
    ctx: RunContext,
    from: { snapshotId: string; manifest: Omit<ImageManifest, 'id' | 'createdAt'> },
  ): Promise<ImageManifest> {
    const { manifest } = from;
    if (!manifest.parent)
      throw new Error('registerImage needs manifest.parent (the base image whose boot settings it copies)');
    const base = await this.rawImage(manifest.parent);
    if (!base) throw new Error(`base image ${manifest.parent} not found in ${this.settings.region}`);
    const client = this.client();
    const name = this.imageName(manifest);
    const key = `image:${name}`;
    const tags = { ...runTags(ctx, key) };
    Object.assign(tags, manifestTags(manifest, Object.keys(tags).length));
    const rootDevice = base.RootDeviceName ?? '/dev/xvda';
    await ctx.journal.intend({
      key,
      provider: 'ec2',
      kind: 'image',
      region: this.settings.region,
      data: { name },
    });
    const res = await call('RegisterImage', () =>
      client.send(
        new RegisterImageCommand({
          Name: name,
          Description: `ovenproof bake of ${manifest.parent} (${ctx.runId})`,
          // RegisterImage defaults to i386 without Architecture; copy every boot setting from the base.
          Architecture: base.Architecture ?? manifest.arch,
          VirtualizationType: 'hvm',
          EnaSupport: base.EnaSupport ?? true,
          ...(base.BootMode ? { BootMode: base.BootMode } : {}),
          ...(base.TpmSupport ? { TpmSupport: base.TpmSupport } : {}),
          RootDeviceName: rootDevice,
          BlockDeviceMappings: bakedMappings(base, rootDevice, from.snapshotId),
          TagSpecifications: tagSpecs(['image'], tags),
        }),
      ),
    );
    const id = res.ImageId!;
    await this.remember(ctx, key, id, { snapshotIds: from.snapshotId });
    const image = await this.waitImage(client, id, ctx.signal);
    return manifestFromImage(image);
  }

  // ---------------------------------------------------------------------------------- instances

  async launch(ctx: RunContext, spec: LaunchSpec): Promise<InstanceInfo> {
    const client = this.client();
    const group = await this.securityGroupFor(ctx, spec.purpose);
    const types = spec.instanceTypes?.length ? spec.instanceTypes : this.settings.instanceTypes;
    const spot = spec.spot ?? this.settings.spot;
    ctx.log.mask(spec.identity.hostKeyPrivate);
    let instanceId: string | null = null;
    const failures: string[] = [];
    for (const type of types) {
      const token = this.token(ctx, spec.purpose);
      const key = `instance:${token}`;
      const userData = Buffer.from(
        buildUserData({
          identity: spec.identity,
          ttlMs: spec.ttlMs,
          sshUser: spec.sshUser,
          launchRef: token,
        }),
      ).toString('base64');
      // The user data carries the host private key: it must never reach a log.
      ctx.log.mask(userData);
      const tags = runTags(ctx, key, {
        Name: `ovenproof-${spec.purpose}-${ctx.runId}`.slice(0, 256),
        [TAG.purpose]: spec.purpose,
      });
      const input: RunInstancesCommandInput = {
        ImageId: spec.imageId,
        InstanceType: type as RunInstancesCommandInput['InstanceType'],
        MinCount: 1,
        MaxCount: 1,
        // Same token on every SDK retry of this call: EC2 returns the first launch instead of a duplicate.
        ClientToken: token,
        UserData: userData,
        InstanceInitiatedShutdownBehavior: 'terminate',
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
        SecurityGroupIds: [group.groupId],
        ...(this.settings.subnetId ? { SubnetId: this.settings.subnetId } : {}),
        ...(spot
          ? {
              InstanceMarketOptions: {
                MarketType: 'spot',
                SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
              },
            }
          : {}),
        TagSpecifications: tagSpecs(['instance', 'volume', 'network-interface'], tags),
      };
      await ctx.journal.intend({
        key,
        provider: 'ec2',
        kind: 'instance',
        region: this.settings.region,
        data: { clientToken: token },
      });
      try {
        const res = await client.send(new RunInstancesCommand(input));
        instanceId = res.Instances?.[0]?.InstanceId ?? null;
        if (!instanceId) throw new Error('RunInstances answered without an instance id');
        await this.remember(ctx, key, instanceId, { instanceType: type });
        break;
      } catch (error) {
        const code = errorCode(error);
        if (CAPACITY_CODES.has(code)) {
          // Nothing was launched for this token: close the ledger entry and try the next type.
          await ctx.journal.deleted(key);
          failures.push(`${type}: ${code}`);
          ctx.log.warn(
            `no ${spot ? 'spot ' : ''}capacity for ${type} (${code}); trying the next instance type`,
          );
          continue;
        }
        // A rejected request (permissions, validation) launched nothing; after a server error or a lost
        // answer the entry stays open so that cleanup looks the instance up by its ClientToken.
        if (isClientError(error)) await ctx.journal.deleted(key);
        throw await this.failLaunch(ctx, null, group, error, 'RunInstances');
      }
    }
    if (!instanceId) {
      await this.dropGroup(ctx, group);
      throw new Ec2Error(
        'RunInstances',
        'InsufficientInstanceCapacity',
        `no capacity for any instance type (${failures.join('; ')}); add more types to instance-type or try another subnet`,
      );
    }
    if (group.created) this.instanceGroups.set(instanceId, { key: group.key, groupId: group.groupId });
    try {
      const instance = await this.waitRunning(client, instanceId, ctx.signal);
      const host = instance.PublicIpAddress ?? instance.PrivateIpAddress;
      if (!host) throw new Error(`instance ${instanceId} is running but has no IP address`);
      ctx.log.info(`instance ${instanceId} (${instance.InstanceType}) running at ${host}`);
      return {
        id: instanceId,
        host,
        port: this.settings.sshPort,
        user: spec.sshUser,
        hostKeyPublic: spec.identity.hostKeyPublic,
      };
    } catch (error) {
      throw await this.failLaunch(ctx, instanceId, group, error, 'DescribeInstances');
    }
  }

  /** On a failed launch: clean up what this launch created (kitchen-ec2 style), then report the cause. */
  private async failLaunch(
    ctx: RunContext,
    instanceId: string | null,
    group: { key: string; groupId: string; created: boolean },
    error: unknown,
    action: string,
  ): Promise<Error> {
    const cause = describeFailure(action, error);
    try {
      if (instanceId) await this.terminate(ctx, instanceId);
      else await this.dropGroup(ctx, group);
    } catch (cleanupError) {
      ctx.log.warn(
        `cleanup after the failed launch failed (the ledger still lists it): ${cleanupError instanceof Error ? cleanupError.message : String(cleanupError)}`,
      );
    }
    return cause;
  }

  private async waitRunning(client: EC2Client, id: string, signal?: AbortSignal): Promise<Instance> {
    await probePermission(
      await client.config.region(),
      'DescribeInstances',
      () => client.send(new DescribeInstancesCommand({ InstanceIds: [id], DryRun: true })),
      this.probed,
    );
    // Eventual consistency: the new id may be unknown to DescribeInstances for a while.
    await retryNotFound(
      'DescribeInstances',
      () => client.send(new DescribeInstancesCommand({ InstanceIds: [id] })),
      this.consistency(signal),
    );
    const max = this.settings.waitTimeoutsMs.instanceRunning;
    await waitFor(
      `instance ${id} to run`,
      'DescribeInstances',
      max,
      () => waitUntilInstanceRunning(waiterConfig(client, this.settings, max, signal), { InstanceIds: [id] }),
      async () => {
        const i = await this.describeInstance(client, id);
        return i ? `state ${i.State?.Name}${i.StateReason?.Message ? `: ${i.StateReason.Message}` : ''}` : '';
      },
    );
    const instance = await this.describeInstance(client, id);
    if (!instance) throw new Error(`instance ${id} vanished after reaching running`);
    return instance;
  }

  private async describeInstance(client: EC2Client, id: string): Promise<Instance | null> {
    try {
      const res = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
      return res.Reservations?.[0]?.Instances?.[0] ?? null;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw new Ec2Error(
        'DescribeInstances',
        errorCode(error),
        `ec2:DescribeInstances ${id} failed: ${errorCode(error)}`,
        { cause: error },
      );
    }
  }

  /** The configured group, or a temporary one allowing port 22 from sshCidr only. */
  private async securityGroupFor(
    ctx: RunContext,
    purpose: string,
  ): Promise<{ key: string; groupId: string; created: boolean }> {
    if (this.settings.securityGroupId)
      return { key: '', groupId: this.settings.securityGroupId, created: false };
    const client = this.client();
    const cidr = this.settings.sshCidr ?? `${await this.resolvePublicAddress()}/32`;
    let vpcId: string | undefined;
    if (this.settings.subnetId) {
      const subnets = await call('DescribeSubnets', () =>
        client.send(new DescribeSubnetsCommand({ SubnetIds: [this.settings.subnetId!] })),
      );
      vpcId = subnets.Subnets?.[0]?.VpcId;
    }
    const groupName = `ovenproof-${this.token(ctx, `sg-${purpose}`)}`.slice(0, 255);
    const key = `security-group:${groupName}`;
    await ctx.journal.intend({
      key,
      provider: 'ec2',
      kind: 'security-group',
      region: this.settings.region,
      data: { groupName },
    });
    const res = await call('CreateSecurityGroup', () =>
      client.send(
        new CreateSecurityGroupCommand({
          GroupName: groupName,
          Description: `ovenproof ${purpose} ${ctx.runId}: SSH from ${cidr}`,
          ...(vpcId ? { VpcId: vpcId } : {}),
          TagSpecifications: tagSpecs(['security-group'], runTags(ctx, key)),
        }),
      ),
    );
    const groupId = res.GroupId!;
    await this.remember(ctx, key, groupId);
    const group = { key, groupId, created: true };
    try {
      await retryNotFound(
        'AuthorizeSecurityGroupIngress',
        () =>
          client.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: groupId,
              IpPermissions: [
                {
                  IpProtocol: 'tcp',
                  FromPort: this.settings.sshPort,
                  ToPort: this.settings.sshPort,
                  IpRanges: [{ CidrIp: cidr, Description: 'ovenproof SSH' }],
                },
              ],
            }),
          ),
        this.consistency(ctx.signal),
      );
    } catch (error) {
      await this.dropGroup(ctx, group).catch(() => undefined);
      throw error;
    }
    return group;
  }

  private async dropGroup(ctx: RunContext, group: { key: string; groupId: string; created: boolean }) {
    if (!group.created) return;
    await this.deleteGroup(this.client(), group.groupId, ctx.log);
    await this.forget(ctx, group.groupId);
  }

  /** DeleteSecurityGroup, retried while the just-terminated instance still holds it (DependencyViolation). */
  private async deleteGroup(client: EC2Client, groupId: string, log: Logger): Promise<void> {
    const deadline = Date.now() + this.settings.waitTimeoutsMs.securityGroupDelete;
    for (let delay = this.consistency().baseMs; ; delay = Math.min(delay * 2, 15_000)) {
      try {
        await client.send(new DeleteSecurityGroupCommand({ GroupId: groupId }));
        log.debug(`deleted security group ${groupId}`);
        return;
      } catch (error) {
        const code = errorCode(error);
        if (isNotFound(error)) return;
        if (code !== 'DependencyViolation' || Date.now() + delay > deadline) {
          throw new Ec2Error(
            'DeleteSecurityGroup',
            code,
            `ec2:DeleteSecurityGroup ${groupId} failed: ${code}`,
            { cause: error },
          );
        }
        await sleep(delay);
      }
    }
  }

  async stopInstance(ctx: RunContext, id: string): Promise<void> {
    const client = this.client();
    await call('StopInstances', () => client.send(new StopInstancesCommand({ InstanceIds: [id] })));
    await probePermission(
      await client.config.region(),
      'DescribeInstances',
      () => client.send(new DescribeInstancesCommand({ InstanceIds: [id], DryRun: true })),
      this.probed,
    );
    const max = this.settings.waitTimeoutsMs.instanceStopped;
    await waitFor(`instance ${id} to stop`, 'DescribeInstances', max, () =>
      waitUntilInstanceStopped(waiterConfig(client, this.settings, max, ctx.signal), { InstanceIds: [id] }),
    );
  }

  async createImageFromInstance(
    ctx: RunContext,
    instanceId: string,
    manifest: Omit<ImageManifest, 'id' | 'createdAt'>,
  ): Promise<ImageManifest> {
    const client = this.client();
    const name = this.imageName(manifest);
    const key = `image:${name}`;
    const tags = runTags(ctx, key);
    Object.assign(tags, manifestTags(manifest, Object.keys(tags).length));
    await ctx.journal.intend({
      key,
      provider: 'ec2',
      kind: 'image',
      region: this.settings.region,
      data: { name },
    });
    const res = await call('CreateImage', () =>
      client.send(
        new CreateImageCommand({
          InstanceId: instanceId,
          Name: name,
          Description: `ovenproof instance bake (${ctx.runId})`,
          // The builder is stopped first (stopInstance), so the file system is consistent without a reboot.
          NoReboot: true,
          // CreateImage accepts only these two resource types in TagSpecifications.
          TagSpecifications: tagSpecs(['image', 'snapshot'], tags),
        }),
      ),
    );
    const id = res.ImageId!;
    await this.remember(ctx, key, id);
    const image = await this.waitImage(client, id, ctx.signal);
    await ctx.journal.created(key, id, { snapshotIds: snapshotIdsOf(image).join(',') });
    return manifestFromImage(image);
  }

  captureFailureImage(
    ctx: RunContext,
    instanceId: string,
    request: FailureImageRequest,
  ): Promise<ImageManifest> {
    const client = this.client();
    return createFailureImage(
      {
        client,
        region: this.settings.region,
        remember: (key, id, data) => this.remember(ctx, key, id, data),
        waitAvailable: (id) => this.waitImage(client, id, ctx.signal),
        discard: (id) => this.deregisterImage(ctx, id),
      },
      ctx,
      instanceId,
      request,
    );
  }

  async terminate(ctx: RunContext, id: string): Promise<void> {
    await this.terminateAndWait(this.client(), [id], ctx.log, ctx.signal);
    await this.forget(ctx, id);
    const group = this.instanceGroups.get(id);
    if (group) {
      await this.deleteGroup(this.client(), group.groupId, ctx.log);
      await this.forget(ctx, group.groupId);
      this.instanceGroups.delete(id);
    }
  }

  private async terminateAndWait(
    client: EC2Client,
    ids: string[],
    log: Logger,
    signal?: AbortSignal,
  ): Promise<void> {
    if (ids.length === 0) return;
    try {
      await retryNotFound(
        'TerminateInstances',
        () => client.send(new TerminateInstancesCommand({ InstanceIds: ids })),
        this.consistency(signal),
      );
    } catch (error) {
      // NotFound long after the launch means the instance is gone (or never existed).
      if (!(error instanceof Ec2Error && error.code.endsWith('NotFound'))) throw error;
      log.debug(`instances ${ids.join(', ')} not found: already gone`);
      return;
    }
    await probePermission(
      await client.config.region(),
      'DescribeInstances',
      () => client.send(new DescribeInstancesCommand({ InstanceIds: ids, DryRun: true })),
      this.probed,
    );
    const max = this.settings.waitTimeoutsMs.instanceTerminated;
    await waitFor(`instance(s) ${ids.join(', ')} to terminate`, 'DescribeInstances', max, () =>
      waitUntilInstanceTerminated(waiterConfig(client, this.settings, max, signal), { InstanceIds: ids }),
    );
    log.info(`terminated ${ids.join(', ')}`);
  }

  async consoleOutput(id: string): Promise<string> {
    const res = await call('GetConsoleOutput', () =>
      this.client().send(new GetConsoleOutputCommand({ InstanceId: id, Latest: true })),
    );
    return res.Output ? Buffer.from(res.Output, 'base64').toString('utf8') : '';
  }

  // ------------------------------------------------------------------------------------ cleanup

  async deleteResource(entry: LedgerEntry, log: Logger): Promise<void> {
    const client = this.client(entry.region ?? this.settings.region);
    const id = entry.id ?? (await this.findByLedgerKey(client, entry));
    if (!id) {
      log.debug(`${entry.kind} ${entry.key}: never created, nothing to delete`);
      return;
    }
    switch (entry.kind) {
      case 'instance':
        return this.terminateAndWait(client, [id], log);
      case 'security-group':
        return this.deleteGroup(client, id, log);
      case 'image':
        return this.deleteImage(client, id, log);
      case 'snapshot':
        try {
          await client.send(new DeleteSnapshotCommand({ SnapshotId: id }));
        } catch (error) {
          if (isNotFound(error)) return;
          // The snapshot backs a registered image: deleting that image deletes it.
          if (errorCode(error) === 'InvalidSnapshot.InUse')
            return log.debug(`snapshot ${id} belongs to an image; left to it`);
          throw new Ec2Error(
            'DeleteSnapshot',
            errorCode(error),
            `ec2:DeleteSnapshot ${id} failed: ${errorCode(error)}`,
            { cause: error },
          );
        }
        return;
      case 'volume':
        return this.removeVolume(client, id, log);
      case 'attachment':
        return this.detach(client, entry.data.volumeId ?? id);
      default:
        log.debug(`${entry.kind} ${id}: not an EC2 resource`);
    }
  }

  /**
   * Finds a resource whose create call was sent but whose answer was lost (crash or kill): by
   * ClientToken for instances, by group or image name, else by the `ovenproof:key` tag.
   */
  private async findByLedgerKey(client: EC2Client, entry: LedgerEntry): Promise<string | null> {
    const keyFilter: Filter = { Name: `tag:${TAG.key}`, Values: [entry.key] };
    switch (entry.kind) {
      case 'instance': {
        const filters: Filter[] = entry.data.clientToken
          ? [{ Name: 'client-token', Values: [entry.data.clientToken] }]
          : [keyFilter];
        const res = await call('DescribeInstances', () =>
          client.send(new DescribeInstancesCommand({ Filters: filters })),
        );
        const live = (res.Reservations ?? [])
          .flatMap((r) => r.Instances ?? [])
          .find((i) => i.State?.Name !== 'terminated');
        return live?.InstanceId ?? null;
      }
      case 'security-group': {
        const filters: Filter[] = entry.data.groupName
          ? [{ Name: 'group-name', Values: [entry.data.groupName] }]
          : [keyFilter];
        const res = await call('DescribeSecurityGroups', () =>
          client.send(new DescribeSecurityGroupsCommand({ Filters: filters })),
        );
        return res.SecurityGroups?.[0]?.GroupId ?? null;
      }
      case 'image': {
        const filters: Filter[] = entry.data.name
          ? [{ Name: 'name', Values: [entry.data.name] }]
          : [keyFilter];
        const images = await this.describeImages(client, { Owners: ['self'], Filters: filters });
        return images.find((i) => i.State !== 'deregistered')?.ImageId ?? null;
      }
      case 'snapshot': {
        const res = await call('DescribeSnapshots', () =>
          client.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [keyFilter] })),
        );
        return res.Snapshots?.[0]?.SnapshotId ?? null;
      }
      case 'volume': {
        const res = await call('DescribeVolumes', () =>
          client.send(new DescribeVolumesCommand({ Filters: [keyFilter] })),
        );
        return res.Volumes?.find((v) => v.State !== 'deleted')?.VolumeId ?? null;
      }
      case 'attachment':
        return entry.data.volumeId ?? null;
      default:
        return null;
    }
  }

  async sweep(options: SweepOptions, log: Logger): Promise<SweptResource[]> {
    const regions = options.regions?.length
      ? options.regions
      : [this.settings.region, ...this.settings.regions];
    const out: SweptResource[] = [];
    for (const region of [...new Set(regions)]) {
      out.push(
        ...(await sweepRegion(
          {
            client: this.client(region),
            region,
            log,
            terminate: (client, ids) => this.terminateAndWait(client, ids, log),
            deleteGroup: (client, id) => this.deleteGroup(client, id, log),
            deleteImage: (client, id) => this.deleteImage(client, id, log),
            deleteSnapshot: (client, id) => this.deleteSnapshot(client, id, log),
            deleteVolume: (client, id) => this.removeVolume(client, id, log),
            describeImages: (client, input) => this.describeImages(client, input),
          },
          options,
        )),
      );
    }
    return out;
  }
}

function snapshotIdsOf(image: Image): string[] {
  return (image.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId).filter((s): s is string => !!s);
}

function rootMapping(image: Image): BlockDeviceMapping | undefined {
  const root = image.RootDeviceName;
  const mappings = image.BlockDeviceMappings ?? [];
  return mappings.find((m) => m.DeviceName === root) ?? mappings.find((m) => m.Ebs?.SnapshotId);
}

/** The base's block-device mappings with the root pointing at the baked snapshot. */
function bakedMappings(base: Image, rootDevice: string, snapshotId: string): BlockDeviceMapping[] {
  const root = rootMapping(base);
  const out: BlockDeviceMapping[] = [];
  for (const m of base.BlockDeviceMappings ?? []) {
    if (m === root) continue;
    if (m.Ebs) {
      // Other EBS volumes of the base start empty in the baked image (their snapshots are not ours).
      const { SnapshotId: _ignored, Encrypted: _e, KmsKeyId: _k, ...ebs } = m.Ebs;
      out.push({ DeviceName: m.DeviceName, Ebs: ebs });
    } else out.push(m);
  }
  out.unshift({
    DeviceName: rootDevice,
    Ebs: {
      SnapshotId: snapshotId,
      DeleteOnTermination: true,
      VolumeType: root?.Ebs?.VolumeType ?? 'gp3',
      ...(root?.Ebs?.VolumeSize ? { VolumeSize: root.Ebs.VolumeSize } : {}),
    },
  });
  return out;
}

export function createEc2Provider(options: Ec2ProviderOptions): Ec2Provider {
  return new Ec2Provider(options);
}
