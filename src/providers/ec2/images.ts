/**
 * EC2 images: listing and describing with manifests decoded from tags, tagging (a kept image loses its
 * expiry, with its snapshots), deregistering with the snapshots DeregisterImage leaves behind, copies to
 * other regions, and the wait until an image is available.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  CopyImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  waitUntilImageAvailable,
  type EC2Client,
  type Filter,
  type Image,
} from '@aws-sdk/client-ec2';
import type { Logger } from '../../common/log.js';
import type { ImageManifest, ImageQuery, RunContext } from '../provider.js';
import {
  call,
  callUnlessGone,
  errorCode,
  probePermission,
  retryWhile,
  waitFor,
  waiterConfig,
} from './aws.js';
import type { Ec2Core } from './core.js';
import { TAG, fromTagList, isoSeconds, manifestFromImage } from './tags.js';

/** Official Debian AMIs are published by this account; `debian-12` resolves among them. */
const DEBIAN_OWNER = '136693071363';

export interface ImageCopy {
  region: string;
  id: string;
}

export type DescribeImagesInput = { ImageIds?: string[]; Owners?: string[]; Filters?: Filter[] };

/** The DescribeImages filters for a query: an AMI id, `debian-N`, a name pattern, tag filters, a bake key. */
function imageQueryInput(query: ImageQuery): DescribeImagesInput & { Filters: Filter[] } {
  const input: DescribeImagesInput & { Filters: Filter[] } = { Filters: [] };
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
      input.Filters.push({ Name: 'name', Values: [debian ? `debian-${debian[1]}-amd64-*` : query.idOrName] });
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
  return input;
}

export async function listImages(core: Ec2Core, query: ImageQuery = {}): Promise<ImageManifest[]> {
  const images = await describeImages(core.client(), imageQueryInput(query));
  return images
    .map(manifestFromImage)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
}

/** Every page of DescribeImages. */
export async function describeImages(client: EC2Client, input: DescribeImagesInput): Promise<Image[]> {
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

/** One image as EC2 describes it, or null when it does not exist. */
export async function rawImage(client: EC2Client, id: string): Promise<Image | null> {
  const res = await callUnlessGone(
    'DescribeImages',
    () => client.send(new DescribeImagesCommand({ ImageIds: [id] })),
    id,
  );
  return res?.Images?.[0] ?? null;
}

export async function describeImage(core: Ec2Core, id: string): Promise<ImageManifest | null> {
  // A name such as `debian-12` is not an AMI id: EC2 would answer InvalidAMIID.Malformed, which is
  // "no such image" for callers that try an id before a name lookup.
  if (!/^ami-[0-9a-f]+$/.test(id)) return null;
  const image = await rawImage(core.client(), id);
  return image && image.State !== 'deregistered' ? manifestFromImage(image) : null;
}

export function snapshotIdsOf(image: Image): string[] {
  return (image.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId).filter((s): s is string => !!s);
}

export async function tagImage(
  core: Ec2Core,
  ctx: RunContext,
  id: string,
  tags: Record<string, string>,
): Promise<void> {
  const client = core.client();
  const image = await rawImage(client, id);
  if (!image) throw new Error(`image ${id} not found in ${core.settings.region}`);
  const resources = [id, ...snapshotIdsOf(image)];
  await call(
    'CreateTags',
    () =>
      client.send(
        new CreateTagsCommand({
          Resources: resources,
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
        }),
      ),
    id,
  );
  if (tags[TAG.kept] === 'true') {
    // A kept image has no expiry: sweep must never delete it or its snapshots.
    await call(
      'DeleteTags',
      () => client.send(new DeleteTagsCommand({ Resources: resources, Tags: [{ Key: TAG.expiresAt }] })),
      id,
    );
    for (const resource of resources) {
      const key = core.keys.get(resource);
      if (key) await ctx.journal.kept(key);
    }
  }
}

/** Removes tags (a run's lease) from an image and its snapshots; a missing image has none to remove. */
export async function untagImage(core: Ec2Core, id: string, keys: string[]): Promise<void> {
  const client = core.client();
  const image = await rawImage(client, id);
  if (!image || keys.length === 0) return;
  const resources = [id, ...snapshotIdsOf(image)];
  await call(
    'DeleteTags',
    () => client.send(new DeleteTagsCommand({ Resources: resources, Tags: keys.map((Key) => ({ Key })) })),
    id,
  );
}

/** Deregisters an image and deletes its snapshots (DeregisterImage alone leaves them behind). */
export async function deleteImage(core: Ec2Core, client: EC2Client, id: string, log: Logger): Promise<void> {
  const image = await rawImage(client, id);
  if (!image || image.State === 'deregistered') {
    log.debug(`image ${id} is already gone`);
    return;
  }
  await callUnlessGone('DeregisterImage', () => client.send(new DeregisterImageCommand({ ImageId: id })), id);
  for (const snapshotId of snapshotIdsOf(image)) await deleteSnapshot(core, client, snapshotId, log);
  log.info(`deregistered image ${id}`);
}

/** DeleteSnapshot, retried while a just-deregistered image still counts as using it. */
export async function deleteSnapshot(
  core: Ec2Core,
  client: EC2Client,
  id: string,
  log: Logger,
): Promise<void> {
  await retryWhile(
    'DeleteSnapshot',
    () =>
      callUnlessGone('DeleteSnapshot', () => client.send(new DeleteSnapshotCommand({ SnapshotId: id })), id),
    (error) => errorCode(error) === 'InvalidSnapshot.InUse',
    { ...core.consistency(undefined, id), maxDelayMs: 10_000 },
  );
  log.debug(`deleted snapshot ${id}`);
}

/** Copies an image to other regions (default: the `regions` setting); copies keep the tags. */
export async function copyImage(
  core: Ec2Core,
  ctx: RunContext,
  imageId: string,
  regions = core.settings.regions,
): Promise<ImageCopy[]> {
  const home = core.settings.region;
  const source = await rawImage(core.client(), imageId);
  if (!source) throw new Error(`image ${imageId} not found in ${home}`);
  const kept = fromTagList(source.Tags)[TAG.kept] === 'true';
  const copies: ImageCopy[] = [];
  for (const region of regions.filter((r) => r !== home)) {
    const client = core.client(region);
    const key = `image-copy:${region}:${imageId}`;
    const token = createHash('sha256').update(`${ctx.runId}:${imageId}:${region}`).digest('hex').slice(0, 64);
    await ctx.journal.intend({ key, provider: 'ec2', kind: 'image', region, data: { clientToken: token } });
    const res = await call(
      'CopyImage',
      () =>
        client.send(
          new CopyImageCommand({
            SourceImageId: imageId,
            SourceRegion: home,
            Name: source.Name ?? imageId,
            Description: `copy of ${imageId} from ${home}`,
            ClientToken: token,
            CopyImageTags: true,
          }),
        ),
      imageId,
    );
    const id = res.ImageId!;
    await core.remember(ctx, key, id);
    await waitImage(core, client, id, ctx.signal);
    if (kept) await ctx.journal.kept(key);
    ctx.log.info(`copied image ${imageId} to ${region} as ${id}`);
    copies.push({ region, id });
  }
  return copies;
}

/** Waits until the image is available (or names its StateReason when it fails) and returns it. */
export async function waitImage(
  core: Ec2Core,
  client: EC2Client,
  id: string,
  signal?: AbortSignal,
): Promise<Image> {
  await probePermission(
    await client.config.region(),
    'DescribeImages',
    () => client.send(new DescribeImagesCommand({ ImageIds: [id], DryRun: true })),
    core.probed,
  );
  const max = core.settings.waitTimeoutsMs.imageAvailable;
  await waitFor(
    `image ${id} to become available`,
    'DescribeImages',
    max,
    () => waitUntilImageAvailable(waiterConfig(client, core.settings, max, signal), { ImageIds: [id] }),
    async () => {
      const image = await rawImage(client, id);
      return image
        ? `state ${image.State}${image.StateReason?.Message ? `: ${image.StateReason.Message}` : ''}`
        : '';
    },
  );
  const image = await rawImage(client, id);
  if (!image) throw new Error(`image ${id} vanished after becoming available`);
  return image;
}

/** A unique AMI name from the manifest's name, a UTC stamp and a random suffix. */
export function imageName(manifest: Omit<ImageManifest, 'id' | 'createdAt'>): string {
  const stamp = isoSeconds(new Date()).replace(/[:]/g, '');
  const base = manifest.name.replace(/[^A-Za-z0-9()[\]./\-'@_ ]/g, '-').slice(0, 90);
  return `${base}-${stamp}-${randomBytes(3).toString('hex')}`;
}
