/**
 * The volume bake's EBS side: a volume from the base image's root snapshot in the baker host's zone,
 * attached under a host-wide lock and resolved to the device the kernel shows, detached (always with
 * the instance it is attached to: not every EC2-compatible endpoint accepts DetachVolume without it),
 * snapshotted, deleted.
 */
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  waitUntilSnapshotCompleted,
  waitUntilVolumeAvailable,
  waitUntilVolumeInUse,
  type EC2Client,
  type Volume,
} from '@aws-sdk/client-ec2';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { RunContext } from '../provider.js';
import {
  call,
  callUnlessGone,
  describeFailure,
  errorCode,
  isNotFound,
  probePermission,
  retryNotFound,
  waitFor,
  waiterConfig,
} from './aws.js';
import type { Ec2Core } from './core.js';
import { chooseDevice, resolveDevice, withHostLock } from './devices.js';
import type { HostIdentity } from './imds.js';
import { rootMapping } from './image-create.js';
import { rawImage } from './images.js';
import { describeInstance } from './instance-state.js';
import { TAG, runTags, tagSpecs } from './tags.js';

export async function volumeBakeUnsupported(core: Ec2Core): Promise<string | null> {
  const host = await core.host();
  if (!host) {
    return `ovenproof is not running on an EC2 instance (no IMDSv2 answer at ${core.settings.imdsEndpoint}); the volume bake needs a baker host in the volume's availability zone`;
  }
  if (host.region !== core.settings.region) {
    return `this host runs in ${host.region} but images are baked in ${core.settings.region}`;
  }
  return null;
}

async function requireHost(core: Ec2Core): Promise<HostIdentity> {
  const reason = await volumeBakeUnsupported(core);
  if (reason) throw new Error(`volume bake unavailable: ${reason}`);
  return (await core.host())!;
}

export async function createVolume(core: Ec2Core, ctx: RunContext, imageId: string): Promise<{ id: string }> {
  const host = await requireHost(core);
  const client = core.client();
  const image = await rawImage(client, imageId);
  if (!image) throw new Error(`base image ${imageId} not found in ${core.settings.region}`);
  const snapshotId = rootMapping(image)?.Ebs?.SnapshotId;
  if (!snapshotId)
    throw new Error(
      `base image ${imageId} has no EBS root snapshot (instance-store AMIs cannot be volume-baked)`,
    );
  const token = core.token(ctx, 'vol');
  const key = `volume:${token}`;
  await ctx.journal.intend({
    key,
    provider: 'ec2',
    kind: 'volume',
    region: core.settings.region,
    data: { clientToken: token },
  });
  const res = await call(
    'CreateVolume',
    () =>
      client.send(
        new CreateVolumeCommand({
          SnapshotId: snapshotId,
          AvailabilityZone: host.availabilityZone,
          VolumeType: core.settings.volumeType,
          ClientToken: token,
          TagSpecifications: tagSpecs(['volume'], runTags(ctx, key, { [TAG.purpose]: 'bake-volume' })),
        }),
      ),
    snapshotId,
  );
  const id = res.VolumeId!;
  await core.remember(ctx, key, id);
  await waitVolume(core, client, id, 'available', ctx.signal);
  return { id };
}

async function waitVolume(
  core: Ec2Core,
  client: EC2Client,
  id: string,
  state: 'available' | 'in-use',
  signal?: AbortSignal,
): Promise<void> {
  await probePermission(
    await client.config.region(),
    'DescribeVolumes',
    () => client.send(new DescribeVolumesCommand({ VolumeIds: [id], DryRun: true })),
    core.probed,
  );
  const max = core.settings.waitTimeoutsMs.volume;
  const waiter = state === 'available' ? waitUntilVolumeAvailable : waitUntilVolumeInUse;
  await waitFor(`volume ${id} to be ${state}`, 'DescribeVolumes', max, () =>
    waiter(waiterConfig(client, core.settings, max, signal), { VolumeIds: [id] }),
  );
}

export async function attachVolume(
  core: Ec2Core,
  ctx: RunContext,
  volumeId: string,
): Promise<{ device: string }> {
  const host = await requireHost(core);
  const { settings } = core;
  const client = core.client();
  const key = `attachment:${volumeId}`;
  const requested = await withHostLock(
    settings.lockDir,
    'ec2-attach',
    settings.waitTimeoutsMs.volume,
    async () => {
      const self = await describeInstance(client, host.instanceId);
      const used = new Set((self?.BlockDeviceMappings ?? []).map((m) => m.DeviceName ?? ''));
      const device = await chooseDevice(settings.deviceRoot, used);
      await ctx.journal.intend({
        key,
        provider: 'ec2',
        kind: 'attachment',
        region: settings.region,
        data: { volumeId, instanceId: host.instanceId, device },
      });
      await call(
        'AttachVolume',
        () =>
          client.send(
            new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: host.instanceId, Device: device }),
          ),
        volumeId,
      );
      await ctx.journal.created(key, volumeId);
      // Hold the lock until EC2 shows the attachment, so the next bake sees the name as taken.
      await waitVolume(core, client, volumeId, 'in-use', ctx.signal);
      return device;
    },
  );
  try {
    const device = await resolveDevice(
      settings.deviceRoot,
      volumeId,
      requested,
      settings.waitTimeoutsMs.deviceAppears,
      Math.min(500, settings.pollIntervalMs),
    );
    ctx.log.info(`attached ${volumeId} as ${requested} → ${device}`);
    return { device };
  } catch (error) {
    // The caller never got a device, so no step owns this attachment: undo it here and close its
    // ledger entry, leaving nothing for the safety net to report.
    await detachVolume(core, ctx, volumeId).catch((detachError: unknown) =>
      ctx.log.warn(
        `could not detach ${volumeId} after its device did not appear: ${errorMessage(detachError)}`,
      ),
    );
    throw error;
  }
}

export async function detachVolume(core: Ec2Core, ctx: RunContext, volumeId: string): Promise<void> {
  const client = core.client();
  await detach(client, volumeId);
  await waitVolume(core, client, volumeId, 'available', ctx.signal);
  await ctx.journal.deleted(`attachment:${volumeId}`);
}

async function describeVolume(client: EC2Client, volumeId: string): Promise<Volume | undefined> {
  const res = await callUnlessGone(
    'DescribeVolumes',
    () => client.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] })),
    volumeId,
  );
  return res?.Volumes?.[0];
}

/**
 * DetachVolume with the instance it is attached to (`instanceId`, else the one EC2 names); a volume
 * that is not attached or does not exist counts as detached.
 */
export async function detach(client: EC2Client, volumeId: string, instanceId?: string): Promise<void> {
  let attachedTo = instanceId;
  if (!attachedTo) {
    const volume = await describeVolume(client, volumeId);
    attachedTo = volume?.Attachments?.find((a) => a.State !== 'detached')?.InstanceId;
    if (!attachedTo) return;
  }
  try {
    await client.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: attachedTo }));
  } catch (error) {
    if (isNotFound(error) || errorCode(error) === 'IncorrectState') return;
    throw describeFailure('DetachVolume', error, `${volumeId} from ${attachedTo}`);
  }
}

export async function snapshotVolume(
  core: Ec2Core,
  ctx: RunContext,
  volumeId: string,
): Promise<{ id: string }> {
  const client = core.client();
  const key = `snapshot:${core.token(ctx, 'snap')}`;
  await ctx.journal.intend({
    key,
    provider: 'ec2',
    kind: 'snapshot',
    region: core.settings.region,
    data: { volumeId },
  });
  const res = await call(
    'CreateSnapshot',
    () =>
      client.send(
        new CreateSnapshotCommand({
          VolumeId: volumeId,
          Description: `ovenproof bake ${ctx.runId}`,
          TagSpecifications: tagSpecs(['snapshot'], runTags(ctx, key)),
        }),
      ),
    volumeId,
  );
  const id = res.SnapshotId!;
  await core.remember(ctx, key, id);
  await probePermission(
    await client.config.region(),
    'DescribeSnapshots',
    () => client.send(new DescribeSnapshotsCommand({ SnapshotIds: [id], DryRun: true })),
    core.probed,
  );
  const max = core.settings.waitTimeoutsMs.snapshotCompleted;
  await retryNotFound(
    'DescribeSnapshots',
    () => client.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] })),
    core.consistency(ctx.signal, id),
  );
  await waitFor(`snapshot ${id} to complete`, 'DescribeSnapshots', max, () =>
    waitUntilSnapshotCompleted(waiterConfig(client, core.settings, max, ctx.signal), { SnapshotIds: [id] }),
  );
  return { id };
}

export async function deleteVolume(core: Ec2Core, ctx: RunContext, volumeId: string): Promise<void> {
  await removeVolume(core, core.client(), volumeId, ctx.log);
  await core.forget(ctx, volumeId);
}

/** Detaches the volume if it is still attached, then deletes it; "already gone" is success. */
export async function removeVolume(
  core: Ec2Core,
  client: EC2Client,
  volumeId: string,
  log: Logger,
): Promise<void> {
  const volume = await describeVolume(client, volumeId);
  if (!volume || volume.State === 'deleted' || volume.State === 'deleting') return;
  if (volume.State === 'in-use') {
    await detach(client, volumeId, volume.Attachments?.[0]?.InstanceId);
    await waitVolume(core, client, volumeId, 'available');
  }
  await callUnlessGone(
    'DeleteVolume',
    () => client.send(new DeleteVolumeCommand({ VolumeId: volumeId })),
    volumeId,
  );
  log.info(`deleted volume ${volumeId}`);
}
