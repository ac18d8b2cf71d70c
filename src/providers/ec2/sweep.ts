/**
 * `sweep` for one region: deletes every resource tagged with an `ovenproof:expires-at` in the past,
 * in dependency order — instances first (they hold security groups and volumes), then security
 * groups, images (with their snapshots), remaining snapshots, volumes. Untagged resources and kept
 * ones (`ovenproof:kept=true`, no expiry) are never touched.
 *
 * Every candidate is tried: a resource that cannot be deleted (protected from termination, in use by
 * something foreign, not allowed by the IAM policy) is reported with its cause and the sweep goes on.
 * Transient refusals (a group still held by an instance that is terminating) are retried with backoff
 * by the delete itself.
 */
import {
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Filter,
  type Image,
  type Instance,
  type Tag,
} from '@aws-sdk/client-ec2';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { ResourceKind, SweepOptions, SweptResource } from '../provider.js';
import { call, callUnlessGone } from './aws.js';
import type { Ec2Core } from './core.js';
import { deleteImage, deleteSnapshot, describeImages, snapshotIdsOf } from './images.js';
import { terminateAndWait } from './instances.js';
import { deleteGroup } from './security-groups.js';
import { TAG, fromTagList } from './tags.js';
import { removeVolume } from './volumes.js';

const TAGGED: Filter = { Name: 'tag-key', Values: [TAG.expiresAt] };

/** Why a resource is due, or null if it must stay. */
export function expiryVerdict(
  tags: Tag[] | undefined,
  createdAt: Date | undefined,
  now: number,
  olderThanMs: number | undefined,
): string | null {
  const t = fromTagList(tags);
  if (t[TAG.kept] === 'true') return null;
  const expires = t[TAG.expiresAt];
  if (!expires) return null;
  const at = Date.parse(expires);
  if (Number.isNaN(at) || at > now) return null;
  if (olderThanMs !== undefined) {
    const tagged = t[TAG.createdAt];
    const created = tagged ? Date.parse(tagged) : createdAt?.getTime();
    if (created === undefined || Number.isNaN(created) || now - created < olderThanMs) return null;
  }
  return `expired at ${expires}${t[TAG.runId] ? ` (run ${t[TAG.runId]})` : ''}`;
}

/** The resources of one region's sweep, and the one way each is tried and recorded. */
class RegionSweep {
  readonly out: SweptResource[] = [];
  private readonly now = Date.now();

  constructor(
    readonly core: Ec2Core,
    readonly client: EC2Client,
    readonly region: string,
    readonly options: SweepOptions,
    readonly log: Logger,
  ) {}

  /** Records the resource when it is due and returns its entry, or null when it stays. */
  due(kind: ResourceKind, id: string, tags: Tag[] | undefined, created?: Date): SweptResource | null {
    const reason = expiryVerdict(tags, created, this.now, this.options.olderThanMs);
    if (!reason) return null;
    const entry: SweptResource = { kind, id, region: this.region, reason, deleted: false };
    this.out.push(entry);
    return entry;
  }

  failed(entry: SweptResource, error: unknown): void {
    entry.error = errorMessage(error);
    this.log.warn(`could not delete ${entry.kind} ${entry.id} in ${this.region}: ${entry.error}`);
  }

  /** Runs one delete; a failure is recorded on the entry and never stops the sweep. */
  async attempt(entry: SweptResource, remove: () => Promise<void>): Promise<void> {
    if (this.options.dryRun) return;
    try {
      await remove();
      entry.deleted = true;
    } catch (error) {
      this.failed(entry, error);
    }
  }

  /** Lists candidates of one kind; a listing that fails is reported as one failed entry. */
  async list<T>(kind: ResourceKind, what: string, fetch: () => Promise<T[]>): Promise<T[]> {
    try {
      return await fetch();
    } catch (error) {
      const entry: SweptResource = {
        kind,
        id: '*',
        region: this.region,
        reason: `listing ${what} in ${this.region}`,
        deleted: false,
      };
      this.out.push(entry);
      this.failed(entry, error);
      return [];
    }
  }
}

/**
 * Terminates each due instance on its own (one protected instance must not keep the others alive),
 * then waits for all accepted terminations together. Returns the ids that could not be terminated.
 */
async function sweepInstances(s: RegionSweep): Promise<Map<string, Instance>> {
  const instances = await s.list('instance', 'instances', async () => {
    const res = await call('DescribeInstances', () =>
      s.client.send(
        new DescribeInstancesCommand({
          Filters: [
            TAGGED,
            { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
          ],
        }),
      ),
    );
    return (res.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  });
  const accepted: Array<{ entry: SweptResource; instance: Instance }> = [];
  const refused = new Map<string, Instance>();
  for (const instance of instances) {
    const entry = s.due('instance', instance.InstanceId!, instance.Tags, instance.LaunchTime);
    if (!entry || s.options.dryRun) continue;
    try {
      await callUnlessGone(
        'TerminateInstances',
        () => s.client.send(new TerminateInstancesCommand({ InstanceIds: [entry.id] })),
        entry.id,
      );
      accepted.push({ entry, instance });
    } catch (error) {
      s.failed(entry, error);
      refused.set(entry.id, instance);
    }
  }
  if (accepted.length === 0) return refused;
  try {
    await terminateAndWait(
      s.core,
      s.client,
      accepted.map((a) => a.entry.id),
      s.log,
    );
    for (const a of accepted) a.entry.deleted = true;
  } catch (error) {
    for (const a of accepted) {
      s.failed(a.entry, error);
      refused.set(a.entry.id, a.instance);
    }
  }
  return refused;
}

async function sweepGroups(s: RegionSweep, liveInstances: Map<string, Instance>): Promise<void> {
  const groups = await s.list('security-group', 'security groups', async () => {
    const res = await call('DescribeSecurityGroups', () =>
      s.client.send(new DescribeSecurityGroupsCommand({ Filters: [TAGGED] })),
    );
    return res.SecurityGroups ?? [];
  });
  for (const g of groups) {
    const entry = s.due('security-group', g.GroupId!, g.Tags);
    if (!entry) continue;
    // A group held by an instance that could not be terminated would only be retried until timeout.
    const holder = [...liveInstances.values()].find((i) =>
      i.SecurityGroups?.some((sg) => sg.GroupId === g.GroupId),
    );
    if (holder && !s.options.dryRun) {
      s.failed(entry, new Error(`in use by instance ${holder.InstanceId}, which could not be terminated`));
      continue;
    }
    await s.attempt(entry, () => deleteGroup(s.core, s.client, g.GroupId!, s.log));
  }
}

/** Images with their snapshots; returns the snapshots that back images which stay. */
async function sweepImages(s: RegionSweep): Promise<Set<string>> {
  const inUse = new Set<string>();
  const images = await s.list('image', 'images', () =>
    describeImages(s.client, { Owners: ['self'], Filters: [TAGGED] }),
  );
  const removed = new Set<string>();
  for (const image of images) {
    const created = image.CreationDate ? new Date(image.CreationDate) : undefined;
    const entry = s.due('image', image.ImageId!, image.Tags, created);
    if (entry) {
      await s.attempt(entry, () => deleteImage(s.core, s.client, image.ImageId!, s.log));
      if (entry.deleted || s.options.dryRun) removed.add(image.ImageId!);
    }
  }
  // Snapshots of images that stay (kept, unexpired, foreign or not deletable) are in use and stay too.
  const all: Image[] = await s.list('image', 'images', () => describeImages(s.client, { Owners: ['self'] }));
  for (const image of all)
    if (!removed.has(image.ImageId!)) for (const id of snapshotIdsOf(image)) inUse.add(id);
  return inUse;
}

async function sweepSnapshots(s: RegionSweep, inUse: Set<string>): Promise<void> {
  const snapshots = await s.list('snapshot', 'snapshots', async () => {
    const res = await call('DescribeSnapshots', () =>
      s.client.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [TAGGED] })),
    );
    return res.Snapshots ?? [];
  });
  for (const snap of snapshots) {
    if (inUse.has(snap.SnapshotId!)) continue;
    // Deleted with its image a moment ago (DescribeSnapshots may still list it).
    if (s.out.some((r) => r.kind === 'snapshot' && r.id === snap.SnapshotId)) continue;
    const entry = s.due('snapshot', snap.SnapshotId!, snap.Tags, snap.StartTime);
    if (entry) await s.attempt(entry, () => deleteSnapshot(s.core, s.client, snap.SnapshotId!, s.log));
  }
}

async function sweepVolumes(s: RegionSweep): Promise<void> {
  const volumes = await s.list('volume', 'volumes', async () => {
    const res = await call('DescribeVolumes', () =>
      s.client.send(new DescribeVolumesCommand({ Filters: [TAGGED] })),
    );
    return res.Volumes ?? [];
  });
  for (const v of volumes) {
    if (v.State === 'deleted' || v.State === 'deleting') continue;
    const entry = s.due('volume', v.VolumeId!, v.Tags, v.CreateTime);
    if (entry) await s.attempt(entry, () => removeVolume(s.core, s.client, v.VolumeId!, s.log));
  }
}

export async function sweepRegion(
  core: Ec2Core,
  region: string,
  options: SweepOptions,
  log: Logger,
): Promise<SweptResource[]> {
  const s = new RegionSweep(core, core.client(region), region, options, log);
  const live = await sweepInstances(s);
  await sweepGroups(s, live);
  const inUse = await sweepImages(s);
  await sweepSnapshots(s, inUse);
  // Bake volumes; an instance's own volumes went with it.
  await sweepVolumes(s);
  for (const r of s.out) {
    if (r.deleted) log.info(`deleted ${r.kind} ${r.id} in ${region}: ${r.reason}`);
    else if (options.dryRun) log.info(`would delete ${r.kind} ${r.id} in ${region}: ${r.reason}`);
  }
  return s.out;
}
