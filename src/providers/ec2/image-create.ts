/**
 * Creating images: from a bake volume's snapshot (RegisterImage with the base image's boot settings)
 * and from a stopped builder instance (CreateImage). Both are journaled under the image's unique name
 * before the call, so a lost answer is found again by name.
 */
import {
  CreateImageCommand,
  RegisterImageCommand,
  type BlockDeviceMapping,
  type Image,
} from '@aws-sdk/client-ec2';
import { errorMessage } from '../../common/errors.js';
import type { ImageManifest, RunContext } from '../provider.js';
import { call, isClientError } from './aws.js';
import type { Ec2Core } from './core.js';
import { deleteImage, imageName, rawImage, snapshotIdsOf, waitImage } from './images.js';
import { manifestFromImage, manifestTags, runTags, tagSpecs } from './tags.js';

type NewManifest = Omit<ImageManifest, 'id' | 'createdAt'>;

/** The mapping of the image's root device (or its first EBS mapping). */
export function rootMapping(image: Image): BlockDeviceMapping | undefined {
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

/** Run tags plus the manifest encoded into tags, under the resource's ledger key. */
function imageTags(ctx: RunContext, key: string, manifest: NewManifest): Record<string, string> {
  const tags = runTags(ctx, key);
  Object.assign(tags, manifestTags(manifest, Object.keys(tags).length));
  return tags;
}

export async function registerImage(
  core: Ec2Core,
  ctx: RunContext,
  from: { snapshotId: string; manifest: NewManifest },
): Promise<ImageManifest> {
  const { manifest } = from;
  if (!manifest.parent)
    throw new Error('registerImage needs manifest.parent (the base image whose boot settings it copies)');
  const client = core.client();
  const base = await rawImage(client, manifest.parent);
  if (!base) throw new Error(`base image ${manifest.parent} not found in ${core.settings.region}`);
  const name = imageName(manifest);
  const key = `image:${name}`;
  const rootDevice = base.RootDeviceName ?? '/dev/xvda';
  await ctx.journal.intend({
    key,
    provider: 'ec2',
    kind: 'image',
    region: core.settings.region,
    data: { name },
  });
  const res = await call(
    'RegisterImage',
    () =>
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
          TagSpecifications: tagSpecs(['image'], imageTags(ctx, key, manifest)),
        }),
      ),
    from.snapshotId,
  );
  const id = res.ImageId!;
  await core.remember(ctx, key, id, { snapshotIds: from.snapshotId });
  return manifestFromImage(await waitImage(core, client, id, ctx.signal));
}

export async function createImageFromInstance(
  core: Ec2Core,
  ctx: RunContext,
  instanceId: string,
  manifest: NewManifest,
): Promise<ImageManifest> {
  const client = core.client();
  const name = imageName(manifest);
  const key = `image:${name}`;
  await ctx.journal.intend({
    key,
    provider: 'ec2',
    kind: 'image',
    region: core.settings.region,
    data: { name },
  });
  const res = await call(
    'CreateImage',
    () =>
      client.send(
        new CreateImageCommand({
          InstanceId: instanceId,
          Name: name,
          Description: `ovenproof instance bake (${ctx.runId})`,
          // The builder is stopped first (stopInstance), so the file system is consistent without a reboot.
          NoReboot: true,
          // CreateImage accepts only these two resource types in TagSpecifications.
          TagSpecifications: tagSpecs(['image', 'snapshot'], imageTags(ctx, key, manifest)),
        }),
      ),
    instanceId,
  ).catch(async (error: unknown) => {
    // A rejected request created nothing: its entry is closed. After a server error or a lost answer
    // it stays open, so that cleanup looks the image up by its name.
    if (isClientError(error)) await ctx.journal.deleted(key);
    throw error;
  });
  const id = res.ImageId!;
  await core.remember(ctx, key, id);
  let image: Image;
  try {
    image = await waitImage(core, client, id, ctx.signal);
  } catch (error) {
    // An image that failed or never became available is of no use: it goes now, with its snapshots,
    // instead of being left to the run's safety net.
    await deleteImage(core, client, id, ctx.log).then(
      () => core.forget(ctx, id),
      (deleteError: unknown) =>
        ctx.log.warn(
          `could not deregister image ${id} after its failed creation (the ledger still lists it): ${errorMessage(deleteError)}`,
        ),
    );
    throw error;
  }
  await ctx.journal.created(key, id, { snapshotIds: snapshotIdsOf(image).join(',') });
  return manifestFromImage(image);
}
