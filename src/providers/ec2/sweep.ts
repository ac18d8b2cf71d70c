/**
 * `sweep` for one region (SPEC §1.1): deletes every resource tagged with an `ovenproof:expires-at`
 * in the past, in dependency order — instances first (they hold security groups and volumes), then
 * security groups, images (with their snapshots), remaining snapshots, volumes. Untagged resources
 * and kept ones (`ovenproof:kept=true`, no expiry) are never touched.
 */
import {
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  type EC2Client,
  type Filter,
  type Image,
  type Tag,
} from '@aws-sdk/client-ec2';
import type { Logger } from '../../common/log.js';
import type { ResourceKind, SweepOptions, SweptResource } from '../provider.js';
import { call } from './aws.js';
import { TAG, fromTagList } from './tags.js';

export interface SweepOps {
  client: EC2Client;
  region: string;
  log: Logger;
  terminate(client: EC2Client, ids: string[]): Promise<void>;
  deleteGroup(client: EC2Client, id: string): Promise<void>;
  deleteImage(client: EC2Client, id: string): Promise<void>;
  deleteSnapshot(client: EC2Client, id: string): Promise<void>;
  deleteVolume(client: EC2Client, id: string): Promise<void>;
  describeImages(client: EC2Client, input: { Owners?: string[]; Filters?: Filter[] }): Promise<Image[]>;
}

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

export async function sweepRegion(ops: SweepOps, options: SweepOptions): Promise<SweptResource[]> {
  const { client, region, log } = ops;
  const now = Date.now();
  const out: SweptResource[] = [];
  const due = (kind: ResourceKind, id: string, tags: Tag[] | undefined, created?: Date) => {
    const reason = expiryVerdict(tags, created, now, options.olderThanMs);
    if (!reason) return false;
    out.push({ kind, id, region, reason, deleted: false });
    return true;
  };
  const done = async (kind: ResourceKind, ids: string[], run: () => Promise<void>) => {
    if (options.dryRun || ids.length === 0) return;
    await run();
    for (const r of out) if (r.kind === kind && ids.includes(r.id)) r.deleted = true;
  };

  // 1. instances (they reference security groups and own volumes)
  const reservations = await call('DescribeInstances', () =>
    client.send(
      new DescribeInstancesCommand({
        Filters: [
          TAGGED,
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
      }),
    ),
  );
  const instances = (reservations.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  const instanceIds = instances
    .filter((i) => due('instance', i.InstanceId!, i.Tags, i.LaunchTime))
    .map((i) => i.InstanceId!);
  await done('instance', instanceIds, () => ops.terminate(client, instanceIds));

  // 2. security groups
  const groups =
    (
      await call('DescribeSecurityGroups', () =>
        client.send(new DescribeSecurityGroupsCommand({ Filters: [TAGGED] })),
      )
    ).SecurityGroups ?? [];
  for (const g of groups) {
    if (due('security-group', g.GroupId!, g.Tags))
      await done('security-group', [g.GroupId!], () => ops.deleteGroup(client, g.GroupId!));
  }

  // 3. images, each with its snapshots
  const images = await ops.describeImages(client, { Owners: ['self'], Filters: [TAGGED] });
  const remaining = new Set<string>();
  for (const image of images) {
    const created = image.CreationDate ? new Date(image.CreationDate) : undefined;
    if (due('image', image.ImageId!, image.Tags, created))
      await done('image', [image.ImageId!], () => ops.deleteImage(client, image.ImageId!));
    else
      for (const m of image.BlockDeviceMappings ?? []) if (m.Ebs?.SnapshotId) remaining.add(m.Ebs.SnapshotId);
  }
  // Snapshots of images that stay (kept, unexpired or foreign) are in use and must stay too.
  const keptImages = await ops.describeImages(client, { Owners: ['self'] });
  for (const image of keptImages) {
    if (images.some((i) => i.ImageId === image.ImageId && out.some((r) => r.id === i.ImageId))) continue;
    for (const m of image.BlockDeviceMappings ?? []) if (m.Ebs?.SnapshotId) remaining.add(m.Ebs.SnapshotId);
  }

  // 4. snapshots not backing a remaining image
  const snapshots =
    (
      await call('DescribeSnapshots', () =>
        client.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [TAGGED] })),
      )
    ).Snapshots ?? [];
  for (const s of snapshots) {
    if (remaining.has(s.SnapshotId!)) continue;
    if (out.some((r) => r.kind === 'snapshot' && r.id === s.SnapshotId)) continue;
    if (due('snapshot', s.SnapshotId!, s.Tags, s.StartTime))
      await done('snapshot', [s.SnapshotId!], () => ops.deleteSnapshot(client, s.SnapshotId!));
  }

  // 5. volumes (bake volumes; instance volumes went with their instances)
  const volumes =
    (await call('DescribeVolumes', () => client.send(new DescribeVolumesCommand({ Filters: [TAGGED] }))))
      .Volumes ?? [];
  for (const v of volumes) {
    if (v.State === 'deleted' || v.State === 'deleting') continue;
    if (due('volume', v.VolumeId!, v.Tags, v.CreateTime))
      await done('volume', [v.VolumeId!], () => ops.deleteVolume(client, v.VolumeId!));
  }

  for (const r of out)
    log.info(`${options.dryRun ? 'would delete' : 'deleted'} ${r.kind} ${r.id} in ${region}: ${r.reason}`);
  return out;
}
