import { afterEach, describe, expect, it } from 'vitest';
import { EC2_TAGS } from '../../src/providers/ec2/index.js';
import { harness, REGION, type Harness } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const past = '2020-01-01T00:00:00Z';
const future = '2099-01-01T00:00:00Z';
const expired = {
  [EC2_TAGS.runId]: 'old-run',
  [EC2_TAGS.expiresAt]: past,
  [EC2_TAGS.createdAt]: '2019-12-31T23:00:00Z',
};
const unexpired = { [EC2_TAGS.runId]: 'new-run', [EC2_TAGS.expiresAt]: future };
const kept = { [EC2_TAGS.runId]: 'old-run', [EC2_TAGS.kept]: 'true' };

describe('ec2 sweep', () => {
  it('deletes exactly the expired ovenproof resources, in dependency order, and leaves the rest alone', async () => {
    h = await harness();
    const e = h.ec2;
    const other = 'us-east-2';
    const ids = {
      expiredInstance: e.seedInstance(REGION, { tags: expired }),
      unexpiredInstance: e.seedInstance(REGION, { tags: unexpired }),
      untaggedInstance: e.seedInstance(REGION, {}),
      expiredGroup: e.seedSecurityGroup(REGION, { name: 'ovenproof-old', tags: expired }),
      untaggedGroup: e.seedSecurityGroup(REGION, { name: 'web', tags: { team: 'web' } }),
      expiredImage: e.seedImage(REGION, { name: 'ovenproof-old', owner: '123456789012', tags: expired }),
      keptImage: e.seedImage(REGION, { name: 'ovenproof-kept', owner: '123456789012', tags: kept }),
      unexpiredImage: e.seedImage(REGION, { name: 'ovenproof-new', owner: '123456789012', tags: unexpired }),
      untaggedImage: e.seedImage(REGION, { name: 'golden', owner: '123456789012' }),
      expiredSnapshot: e.seedSnapshot(REGION, { tags: expired }),
      untaggedSnapshot: e.seedSnapshot(REGION, {}),
      expiredVolume: e.seedVolume(REGION, { tags: expired }),
      unexpiredVolume: e.seedVolume(REGION, { tags: unexpired }),
      otherRegionExpired: e.seedVolume(other, { tags: expired }),
    };
    // The seeded security group is used by the expired instance: it can only go after the instance.
    e.region(REGION).instances.get(ids.expiredInstance)!.groups.push(ids.expiredGroup);
    const imageSnapshot = (id: string) => e.region(REGION).images.get(id)!.mappings[0]!.snapshotId!;
    // Snapshots of images carry the image's tags, as CreateImage's TagSpecifications make them.
    for (const [id, tags] of [
      [ids.expiredImage, expired],
      [ids.keptImage, { ...kept, [EC2_TAGS.expiresAt]: past }],
    ] as const) {
      e.region(REGION).snapshots.get(imageSnapshot(id))!.tags = new Map(Object.entries(tags));
    }
    const expiredImageSnapshot = imageSnapshot(ids.expiredImage);
    const keptImageSnapshot = imageSnapshot(ids.keptImage);

    // Dry run: reports, deletes nothing.
    const dry = await h.provider.sweep({ dryRun: true }, h.log);
    expect(dry.every((r) => !r.deleted)).toBe(true);
    expect(e.requests.some((r) => /^(Terminate|Delete|Deregister)/.test(r.action) && !r.dryRun)).toBe(false);

    const swept = await h.provider.sweep({ dryRun: false, regions: [REGION, other] }, h.log);
    const byKind = swept.map((r) => `${r.kind}:${r.id}`);
    expect(new Set(byKind)).toEqual(
      new Set([
        `instance:${ids.expiredInstance}`,
        `security-group:${ids.expiredGroup}`,
        `image:${ids.expiredImage}`,
        `snapshot:${ids.expiredSnapshot}`,
        `volume:${ids.expiredVolume}`,
        `volume:${ids.otherRegionExpired}`,
      ]),
    );
    expect(swept.every((r) => r.deleted && /expired at 2020-01-01T00:00:00Z/.test(r.reason))).toBe(true);

    // Dependency order of the delete calls: instances → groups → images → snapshots → volumes.
    const order = e.requests
      .filter((r) => !r.dryRun && r.status === 200 && r.region === REGION)
      .map((r) => r.action)
      .filter((a) =>
        [
          'TerminateInstances',
          'DeleteSecurityGroup',
          'DeregisterImage',
          'DeleteSnapshot',
          'DeleteVolume',
        ].includes(a),
      );
    const first = (a: string) => order.indexOf(a);
    expect(first('TerminateInstances')).toBeLessThan(first('DeleteSecurityGroup'));
    expect(first('DeleteSecurityGroup')).toBeLessThan(first('DeregisterImage'));
    expect(first('DeregisterImage')).toBeLessThan(first('DeleteSnapshot'));
    expect(first('DeleteSnapshot')).toBeLessThan(first('DeleteVolume'));

    const live = new Set(e.live({ ovenproofOnly: false }).map((r) => r.id));
    for (const gone of [
      ids.expiredInstance,
      ids.expiredGroup,
      ids.expiredImage,
      expiredImageSnapshot,
      ids.expiredSnapshot,
      ids.expiredVolume,
      ids.otherRegionExpired,
    ]) {
      expect(live.has(gone), gone).toBe(false);
    }
    for (const stays of [
      ids.unexpiredInstance,
      ids.untaggedInstance,
      ids.untaggedGroup,
      ids.keptImage,
      keptImageSnapshot,
      ids.unexpiredImage,
      ids.untaggedImage,
      ids.untaggedSnapshot,
      ids.unexpiredVolume,
    ]) {
      expect(live.has(stays), stays).toBe(true);
    }
  });

  it('honours --older-than on top of the expiry', async () => {
    h = await harness();
    const recent = { ...expired, [EC2_TAGS.createdAt]: new Date(Date.now() - 30 * 60_000).toISOString() };
    const young = h.ec2.seedVolume(REGION, { tags: recent });
    const old = h.ec2.seedVolume(REGION, { tags: expired });
    const swept = await h.provider.sweep({ dryRun: false, olderThanMs: 2 * 3600_000 }, h.log);
    expect(swept.map((r) => r.id)).toEqual([old]);
    expect(h.ec2.region(REGION).volumes.has(young)).toBe(true);
  });
});
