import { execFile } from 'node:child_process';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { EC2_TAGS } from '../../src/providers/ec2/index.js';
import type { ImageManifest } from '../../src/providers/provider.js';
import { startImds, type FakeImds } from '../support/ec2-endpoint/imds.js';
import { harness, launchSpec, REGION, type Harness } from './helpers.js';

let h: Harness | undefined;
let imds: FakeImds | undefined;
afterEach(async () => {
  await h?.close();
  await imds?.close();
  h = undefined;
  imds = undefined;
});

/** A realistic installed set: several hundred name=version pairs. */
function packageSet(n: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < n; i++)
    out[`lib${['ssl', 'xml', 'curl', 'gnutls', 'systemd'][i % 5]}${i}-${i % 7 ? 'dev' : 'common'}`] =
      `${1 + (i % 4)}.${i % 13}.${i % 29}-${1 + (i % 3)}+deb12u${i % 5}`;
  return out;
}

function manifest(parent: string, bakeKey: string): Omit<ImageManifest, 'id' | 'createdAt'> {
  return {
    name: 'ovenproof-widget',
    os: 'debian-12',
    arch: 'x86_64',
    parent,
    packages: packageSet(450),
    bakeKey,
    tags: { 'ovenproof:tested': 'false' },
  };
}

describe('ec2 instance bake', () => {
  it('stops the builder, images it with tagged image and snapshot, and finds it again by bake key', async () => {
    h = await harness();
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    expect((await h.provider.listImages({ idOrName: 'debian-12' })).map((i) => i.id)).toEqual([base]);

    const builder = await h.provider.launch(h.ctx, launchSpec(base, { purpose: 'builder' }));
    await h.provider.stopInstance(h.ctx, builder.id);
    const image = await h.provider.createImageFromInstance(h.ctx, builder.id, manifest(base, 'k'.repeat(64)));
    await h.provider.terminate(h.ctx, builder.id);

    const create = h.ec2.requests.find((r) => r.action === 'CreateImage')!.params;
    const specTypes = Object.keys(create)
      .filter((k) => /^TagSpecification\.\d+\.ResourceType$/.test(k))
      .map((k) => create[k]);
    expect(specTypes.sort()).toEqual(['image', 'snapshot']);
    const tagCount = Object.keys(create).filter((k) => /^TagSpecification\.1\.Tag\.\d+\.Key$/.test(k)).length;
    expect(tagCount).toBeLessThanOrEqual(50);
    expect(
      Object.entries(create)
        .filter(([k]) => /Tag\.\d+\.Value$/.test(k))
        .every(([, v]) => v.length <= 256),
    ).toBe(true);

    // The manifest round-trips through the tags: packages, bake key, parent, free-form tags.
    expect(image.packages).toEqual(manifest(base, '').packages);
    const found = await h.provider.listImages({ bakeKey: 'k'.repeat(64) });
    expect(found.map((i) => i.id)).toEqual([image.id]);
    expect(found[0]).toMatchObject({
      parent: base,
      os: 'debian-12',
      bakeKey: 'k'.repeat(64),
      tags: { 'ovenproof:tested': 'false' },
    });
    expect(Object.keys(found[0]!.packages)).toHaveLength(450);

    // Keeping the image removes its expiry (and its snapshot's), so sweep will never take it.
    await h.provider.tagImage(h.ctx, image.id, { [EC2_TAGS.kept]: 'true' });
    const swept = await h.provider.sweep({ dryRun: false }, h.log);
    expect(swept).toEqual([]);
    const live = h.ec2.live();
    expect(live.map((r) => r.kind).sort()).toEqual(['image', 'snapshot']);
    expect(live.every((r) => r.tags[EC2_TAGS.kept] === 'true' && !r.tags[EC2_TAGS.expiresAt])).toBe(true);
    expect(h.ledger.live()).toEqual([]);

    // Dropping it deletes the snapshot too (DeregisterImage alone would leave it behind).
    await h.provider.deregisterImage(h.ctx, image.id);
    expect(h.ec2.live()).toEqual([]);
  });

  it('fails fast naming the image when it ends up failed, deletes that image, and cleans the rest from a fresh process', async () => {
    h = await harness();
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    const builder = await h.provider.launch(h.ctx, launchSpec(base, { purpose: 'builder' }));
    await h.provider.stopInstance(h.ctx, builder.id);
    h.ec2.inject({ type: 'image-fails', pendingMs: 200 });
    await expect(
      h.provider.createImageFromInstance(h.ctx, builder.id, manifest(base, 'f'.repeat(64))),
    ).rejects.toThrow(
      /waiting for image ami-\w+ to become available \(ec2:DescribeImages\) failed: it reached a state it cannot leave \(state failed: Image creation failed/,
    );
    // The failed image went with its snapshot at once (its ledger entry closed). The run is "killed"
    // here: the ledger lists the builder and its security group.
    expect(h.ec2.live().filter((r) => r.kind === 'image' || r.kind === 'snapshot')).toEqual([]);
    expect(h.ledger.entries().find((e) => e.kind === 'image')?.state).toBe('deleted');
    expect(
      h.ledger
        .live()
        .map((e) => e.kind)
        .sort(),
    ).toEqual(['instance', 'security-group']);
    const { stdout } = await promisify(execFile)(
      'npx',
      [
        'tsx',
        join(import.meta.dirname, 'fixtures/delete-ledger.ts'),
        h.ledger.path,
        h.ec2.credentials.accessKeyId,
        h.ec2.credentials.secretAccessKey,
      ],
      { env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true' } },
    );
    expect(stdout).toMatch(/deleted instance/);
    expect(h.ec2.live()).toEqual([]);
  });

  it('finds a resource whose create answer was lost (no id in the ledger) by ClientToken / name', async () => {
    h = await harness({ provider: { maxAttempts: 3 } });
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    // Every answer to RunInstances is lost: the SDK gives up, the ledger entry has no id.
    h.ec2.inject({ type: 'http-500', count: 20, action: 'RunInstances', afterApply: true });
    await expect(h.provider.launch(h.ctx, launchSpec(base))).rejects.toThrow(
      /ec2:RunInstances ami-\w+ failed: InternalError: .* \(HTTP 500, request id \w+\)/,
    );
    expect(h.ec2.live().filter((r) => r.kind === 'instance')).toHaveLength(1);
    // The security group could not go while the (unknown) instance holds it.
    const open = h.ledger.live();
    expect(open.map((e) => [e.kind, e.id === null])).toEqual([
      ['instance', true],
      ['security-group', false],
    ]);
    for (const entry of open) await h.provider.deleteResource(entry, h.log);
    expect(h.ec2.live()).toEqual([]);
  });
});

describe('ec2 volume bake', () => {
  it('reports why it is unavailable off EC2 without leaving 127.0.0.0/8', async () => {
    h = await harness();
    expect(await h.provider.volumeBakeUnsupported()).toMatch(
      /not running on an EC2 instance \(no IMDSv2 answer at http:\/\/127\.0\.0\.1:9\)/,
    );
  });

  it('creates a volume in the host AZ, attaches it under a lock, resolves the NVMe name, snapshots and registers', async () => {
    const devRoot = join(process.cwd(), '.tmp', `ec2-dev-${process.pid}-${Date.now()}`);
    h = await harness({ provider: { deviceRoot: devRoot } });
    const hostId = h.ec2.seedInstance(REGION, { az: 'eu-west-1b' });
    imds = await startImds({ instanceId: hostId, region: REGION, availabilityZone: 'eu-west-1b' });
    const { createEc2Provider } = await import('../../src/providers/ec2/index.js');
    h.provider = createEc2Provider({
      ...h.provider.toJSON(),
      imdsEndpoint: imds.url,
      // Generous: a loaded machine answers a loopback request slower than the harness's 200 ms.
      imdsTimeoutMs: 5_000,
      credentials: h.ec2.credentials,
    });
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1', bootMode: 'uefi-preferred' });
    expect(await h.provider.volumeBakeUnsupported()).toBeNull();

    // A stale attachment still visible to the kernel occupies /dev/sdf; the NVMe by-id link names the new volume.
    await mkdir(join(devRoot, 'dev/disk/by-id'), { recursive: true });
    await writeFile(join(devRoot, 'dev/sdf'), '');
    const volume = await h.provider.createVolume(h.ctx, base);
    await symlink(
      '../../nvme1n1',
      join(devRoot, 'dev/disk/by-id', `nvme-Amazon_Elastic_Block_Store_${volume.id.replace('-', '')}`),
    );
    const { device } = await h.provider.attachVolume(h.ctx, volume.id);
    expect(device).toBe('/dev/nvme1n1');
    const attach = h.ec2.requests.find((r) => r.action === 'AttachVolume')!.params;
    expect(attach).toMatchObject({ InstanceId: hostId, Device: '/dev/sdg', VolumeId: volume.id });
    expect(h.ec2.requests.find((r) => r.action === 'CreateVolume')!.params.AvailabilityZone).toBe(
      'eu-west-1b',
    );

    await h.provider.detachVolume(h.ctx, volume.id);
    // Named with the instance: not every EC2-compatible endpoint accepts DetachVolume without it.
    expect(h.ec2.requests.find((r) => r.action === 'DetachVolume')!.params.InstanceId).toBe(hostId);
    const snapshot = await h.provider.snapshotVolume(h.ctx, volume.id);
    await h.provider.deleteVolume(h.ctx, volume.id);
    const image = await h.provider.registerImage(h.ctx, {
      snapshotId: snapshot.id,
      manifest: manifest(base, 'v'.repeat(64)),
    });
    const reg = h.ec2.requests.find((r) => r.action === 'RegisterImage')!.params;
    expect(reg).toMatchObject({
      Architecture: 'x86_64',
      VirtualizationType: 'hvm',
      EnaSupport: 'true',
      BootMode: 'uefi-preferred',
      RootDeviceName: '/dev/xvda',
      'BlockDeviceMapping.1.Ebs.SnapshotId': snapshot.id,
    });
    expect(image.bakeKey).toBe('v'.repeat(64));

    await h.provider.deregisterImage(h.ctx, image.id);
    expect(h.ec2.live()).toEqual([]);
    expect(h.ledger.live().map((e) => e.kind)).toEqual(['snapshot']);
    // The snapshot went with its image; deleting its ledger entry finds it gone.
    await h.provider.deleteResource(h.ledger.live()[0]!, h.log);
    await rm(devRoot, { recursive: true, force: true });
  });
});

describe('ec2 volume bake when the device never appears', () => {
  it('detaches the volume (naming its instance) and closes the attachment entry before failing', async () => {
    const devRoot = join(process.cwd(), '.tmp', `ec2-dev-${process.pid}-${Date.now()}-gone`);
    h = await harness({ provider: { deviceRoot: devRoot } });
    const hostId = h.ec2.seedInstance(REGION, { az: 'eu-west-1b' });
    imds = await startImds({ instanceId: hostId, region: REGION, availabilityZone: 'eu-west-1b' });
    const { createEc2Provider } = await import('../../src/providers/ec2/index.js');
    h.provider = createEc2Provider({
      ...h.provider.toJSON(),
      imdsEndpoint: imds.url,
      // Generous: a loaded machine answers a loopback request slower than the harness's 200 ms.
      imdsTimeoutMs: 5_000,
      credentials: h.ec2.credentials,
    });
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    await mkdir(join(devRoot, 'dev/disk/by-id'), { recursive: true });
    const volume = await h.provider.createVolume(h.ctx, base);
    // No device node ever shows up for the volume (a kernel that missed the hot-plug).
    await expect(h.provider.attachVolume(h.ctx, volume.id)).rejects.toThrow(
      /^volume vol-\w+ attached as \/dev\/sd\w but no block device appeared/,
    );
    const detach = h.ec2.requests.find((r) => r.action === 'DetachVolume')!.params;
    expect(detach).toMatchObject({ VolumeId: volume.id, InstanceId: hostId });
    expect(h.ec2.region(REGION).volumes.get(volume.id)!.state).toBe('available');
    // Only the volume itself is still live: its own step deletes it; the attachment is closed.
    expect(h.ledger.live().map((e) => e.kind)).toEqual(['volume']);
    await h.provider.deleteVolume(h.ctx, volume.id);
    expect(h.ledger.live()).toEqual([]);
    await rm(devRoot, { recursive: true, force: true });
  });
});

describe('ec2 CopyImage', () => {
  it('copies a kept image to the extra regions with a ClientToken and its tags, reporting each id', async () => {
    h = await harness({ provider: { regions: ['us-east-1', 'ap-southeast-2'] } });
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    const builder = await h.provider.launch(h.ctx, launchSpec(base, { purpose: 'builder' }));
    await h.provider.stopInstance(h.ctx, builder.id);
    const image = await h.provider.createImageFromInstance(h.ctx, builder.id, manifest(base, 'c'.repeat(64)));
    await h.provider.terminate(h.ctx, builder.id);
    await h.provider.tagImage(h.ctx, image.id, { [EC2_TAGS.kept]: 'true' });

    const copies = await h.provider.copyImage(h.ctx, image.id);
    expect(copies.map((c) => c.region)).toEqual(['us-east-1', 'ap-southeast-2']);
    const requests = h.ec2.requests.filter((r) => r.action === 'CopyImage' && !r.dryRun);
    expect(requests.map((r) => r.region)).toEqual(['us-east-1', 'ap-southeast-2']);
    expect(
      requests.every(
        (r) => r.params.ClientToken && r.params.CopyImageTags === 'true' && r.params.SourceRegion === REGION,
      ),
    ).toBe(true);
    for (const copy of copies) {
      const img = h.ec2.region(copy.region).images.get(copy.id)!;
      expect(img.state).toBe('available');
      expect(img.tags.get(EC2_TAGS.bakeKey)).toBe('c'.repeat(64));
      expect(img.tags.get(EC2_TAGS.kept)).toBe('true');
    }
    expect(h.ledger.live()).toEqual([]);
    expect(h.ec2.live().filter((r) => r.kind === 'instance' || r.kind === 'security-group')).toEqual([]);
  });
});
