/**
 * Deleting what a ledger entry describes (the Action's post step, `sweep --ledger`, the pipeline's
 * safety net). An entry whose create answer was lost has no id: the resource is found again by what
 * was journaled before the call — an instance by its ClientToken and, where an endpoint cannot filter
 * by token, by the `ovenproof:key` tag every instance carries from launch; a group or image by its
 * unique name; anything else by its `ovenproof:key` tag.
 */
import {
  DeleteSnapshotCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  type EC2Client,
  type Filter,
} from '@aws-sdk/client-ec2';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { LedgerEntry } from '../provider.js';
import { call, callUnlessGone, errorCode, isPermissionError } from './aws.js';
import type { Ec2Core } from './core.js';
import { deleteImage, describeImages } from './images.js';
import { terminateAndWait } from './instances.js';
import { deleteGroup } from './security-groups.js';
import { TAG } from './tags.js';
import { detach, removeVolume } from './volumes.js';

/** Deletes what the entry describes and returns its id (found again when the entry has none), or null. */
export async function deleteResource(core: Ec2Core, entry: LedgerEntry, log: Logger): Promise<string | null> {
  const client = core.client(entry.region ?? core.settings.region);
  const id = entry.id ?? (await findByLedgerKey(client, entry, log));
  if (!id) {
    log.debug(`${entry.kind} ${entry.key}: never created, nothing to delete`);
    return null;
  }
  await deleteById(core, client, entry, id, log);
  return id;
}

async function deleteById(
  core: Ec2Core,
  client: EC2Client,
  entry: LedgerEntry,
  id: string,
  log: Logger,
): Promise<void> {
  switch (entry.kind) {
    case 'instance':
      return terminateAndWait(core, client, [id], log);
    case 'security-group':
      return deleteGroup(core, client, id, log);
    case 'image':
      return deleteImage(core, client, id, log);
    case 'snapshot':
      try {
        await callUnlessGone(
          'DeleteSnapshot',
          () => client.send(new DeleteSnapshotCommand({ SnapshotId: id })),
          id,
        );
      } catch (error) {
        // The snapshot backs a registered image: deleting that image deletes it.
        if (errorCode(error) !== 'InvalidSnapshot.InUse') throw error;
        log.debug(`snapshot ${id} belongs to an image; left to it`);
      }
      return;
    case 'volume':
      return removeVolume(core, client, id, log);
    case 'attachment':
      return detach(client, entry.data.volumeId ?? id, entry.data.instanceId);
    default:
      log.debug(`${entry.kind} ${id}: not an EC2 resource`);
  }
}

/** Instances (not yet terminated) matching the filters. */
async function liveInstanceId(client: EC2Client, filters: Filter[]): Promise<string | null> {
  const res = await call('DescribeInstances', () =>
    client.send(new DescribeInstancesCommand({ Filters: filters })),
  );
  const live = (res.Reservations ?? [])
    .flatMap((r) => r.Instances ?? [])
    .find((i) => i.State?.Name !== 'terminated');
  return live?.InstanceId ?? null;
}

/** A launched instance whose RunInstances answer was lost: by ClientToken first, then by tag. */
async function findLostInstance(client: EC2Client, entry: LedgerEntry, log: Logger): Promise<string | null> {
  const keyFilter: Filter = { Name: `tag:${TAG.key}`, Values: [entry.key] };
  const token = entry.data.clientToken;
  if (token) {
    try {
      const id = await liveInstanceId(client, [{ Name: 'client-token', Values: [token] }]);
      if (id) return id;
    } catch (error) {
      if (isPermissionError(error)) throw error;
      log.debug(`looking up ${entry.key} by client token failed (${errorMessage(error)}); trying its tag`);
    }
  }
  return liveInstanceId(client, [keyFilter]);
}

/** Finds a resource whose create call was sent but whose answer was lost (crash or kill). */
async function findByLedgerKey(client: EC2Client, entry: LedgerEntry, log: Logger): Promise<string | null> {
  const keyFilter: Filter = { Name: `tag:${TAG.key}`, Values: [entry.key] };
  switch (entry.kind) {
    case 'instance':
      return findLostInstance(client, entry, log);
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
      const filters: Filter[] = entry.data.name ? [{ Name: 'name', Values: [entry.data.name] }] : [keyFilter];
      const images = await describeImages(client, { Owners: ['self'], Filters: filters });
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
