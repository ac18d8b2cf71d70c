/**
 * The EC2 provider against moto's server, an EC2 implementation nobody here wrote, through the real
 * SDK: a sweep over mixed resources where one delete is refused, and a RunInstances whose answer is
 * lost. moto's gaps (no client-token filter, DetachVolume needing InstanceId) are exactly what the
 * provider must cope with on EC2-compatible endpoints.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateImageCommand,
  CreateSecurityGroupCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  ModifyInstanceAttributeCommand,
  RunInstancesCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { sweepCommand } from '../../src/cli/commands/sweep.js';
import { cleanupLedger } from '../../src/pipeline/cleanup.js';
import { Ledger } from '../../src/pipeline/ledger.js';
import { createEc2Provider, EC2_TAGS } from '../../src/providers/ec2/index.js';
import type { RunContext } from '../../src/providers/provider.js';
import { runCommand } from '../support/cli-io.js';
import {
  MOTO_AMI,
  MOTO_CREDENTIALS,
  MOTO_REGION,
  startMoto,
  startMotoProxy,
  type Moto,
} from '../support/moto.js';
import { launchSpec, memoryLogger } from './helpers.js';

let moto: Moto;
let subnetId: string;

beforeAll(async () => {
  moto = await startMoto();
  subnetId = await moto.network();
}, 120_000);

afterAll(async () => {
  await moto?.stop();
});

const tags = (t: Record<string, string>): Tag[] => Object.entries(t).map(([Key, Value]) => ({ Key, Value }));
const expired = {
  [EC2_TAGS.runId]: 'old-run',
  [EC2_TAGS.expiresAt]: '2020-01-01T00:00:00Z',
  [EC2_TAGS.createdAt]: '2019-12-31T23:00:00Z',
};
const future = { [EC2_TAGS.runId]: 'new-run', [EC2_TAGS.expiresAt]: '2099-01-01T00:00:00Z' };
const kept = { [EC2_TAGS.runId]: 'old-run', [EC2_TAGS.kept]: 'true' };

/** Short waits: moto changes state at once. */
const FAST_SETTINGS = {
  pollIntervalMs: 100,
  consistencyTimeoutMs: 3_000,
  maxAttempts: 1,
  imdsEndpoint: 'http://127.0.0.1:9',
  imdsTimeoutMs: 200,
  waitTimeoutsMs: {
    instanceRunning: 10_000,
    instanceStopped: 10_000,
    instanceTerminated: 10_000,
    imageAvailable: 10_000,
    snapshotCompleted: 10_000,
    volume: 10_000,
    securityGroupDelete: 3_000,
    deviceAppears: 1_000,
  },
};

async function instance(t: Record<string, string>, groupIds: string[] = []): Promise<string> {
  const res = await moto.client().send(
    new RunInstancesCommand({
      ImageId: MOTO_AMI,
      MinCount: 1,
      MaxCount: 1,
      SubnetId: subnetId,
      ...(groupIds.length ? { SecurityGroupIds: groupIds } : {}),
      TagSpecifications: [{ ResourceType: 'instance', Tags: tags(t) }],
    }),
  );
  return res.Instances![0]!.InstanceId!;
}

async function group(name: string, t: Record<string, string>): Promise<string> {
  const res = await moto.client().send(
    new CreateSecurityGroupCommand({
      GroupName: name,
      Description: name,
      TagSpecifications: Object.keys(t).length
        ? [{ ResourceType: 'security-group', Tags: tags(t) }]
        : undefined,
    }),
  );
  return res.GroupId!;
}

async function volume(t: Record<string, string>): Promise<string> {
  const res = await moto.client().send(
    new CreateVolumeCommand({
      AvailabilityZone: `${MOTO_REGION}a`,
      Size: 1,
      TagSpecifications: Object.keys(t).length ? [{ ResourceType: 'volume', Tags: tags(t) }] : undefined,
    }),
  );
  return res.VolumeId!;
}

async function image(from: string, name: string, t: Record<string, string>): Promise<string> {
  const res = await moto.client().send(new CreateImageCommand({ InstanceId: from, Name: name }));
  await moto.client().send(new CreateTagsCommand({ Resources: [res.ImageId!], Tags: tags(t) }));
  return res.ImageId!;
}

function motoEnv(): NodeJS.ProcessEnv {
  return {
    AWS_REGION: MOTO_REGION,
    OVENPROOF_EC2_SETTINGS: JSON.stringify(FAST_SETTINGS),
  };
}

describe('ec2 provider against moto', () => {
  it('sweep tries every expired resource when one cannot be deleted, reports it with its cause in --json and exits 2', async () => {
    // The SDK finds moto through the standard per-service endpoint variable, as it would any
    // EC2-compatible endpoint; credentials come from the default chain's environment variables.
    process.env.AWS_ENDPOINT_URL_EC2 = moto.url;
    process.env.AWS_ACCESS_KEY_ID = MOTO_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = MOTO_CREDENTIALS.secretAccessKey;
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    const c = moto.client();
    const heldGroup = await group('ovenproof-held', expired);
    const ids = {
      protectedInstance: await instance(expired, [heldGroup]),
      expiredInstance: await instance(expired),
      futureInstance: await instance(future),
      foreignInstance: await instance({ team: 'web' }),
      expiredGroup: await group('ovenproof-old', expired),
      foreignGroup: await group('web', {}),
      expiredVolume: await volume(expired),
      futureVolume: await volume(future),
      foreignVolume: await volume({}),
    };
    // Termination protection: EC2 (and moto) refuse TerminateInstances with OperationNotPermitted.
    await c.send(
      new ModifyInstanceAttributeCommand({
        InstanceId: ids.protectedInstance,
        DisableApiTermination: { Value: true },
      }),
    );
    const expiredImage = await image(ids.foreignInstance, 'ovenproof-old-image', expired);
    const keptImage = await image(ids.foreignInstance, 'ovenproof-kept-image', kept);
    const snapVolume = await volume({});
    const snapshot = await c.send(
      new CreateSnapshotCommand({
        VolumeId: snapVolume,
        TagSpecifications: [{ ResourceType: 'snapshot', Tags: tags(expired) }],
      }),
    );

    const { code, stdout, stderr } = await runCommand(
      sweepCommand,
      ['--provider', 'ec2', '--region', MOTO_REGION, '--json'],
      { env: motoEnv() },
    );
    expect(code, stderr).toBe(2);
    const swept = JSON.parse(stdout) as Array<{ kind: string; id: string; deleted: boolean; error?: string }>;
    const byId = new Map(swept.map((r) => [r.id, r]));
    expect(byId.get(ids.protectedInstance)).toMatchObject({ kind: 'instance', deleted: false });
    expect(byId.get(ids.protectedInstance)!.error).toMatch(
      /^ec2:TerminateInstances i-\w+ failed: OperationNotPermitted: The instance '.*' may not be terminated.* \(HTTP 400, request id \w+\)$/,
    );
    expect(byId.get(heldGroup)).toMatchObject({ kind: 'security-group', deleted: false });
    expect(byId.get(heldGroup)!.error).toContain(`in use by instance ${ids.protectedInstance}`);
    for (const id of [
      ids.expiredInstance,
      ids.expiredGroup,
      ids.expiredVolume,
      expiredImage,
      snapshot.SnapshotId!,
    ])
      expect(byId.get(id), `${id} deleted`).toMatchObject({ deleted: true });
    expect(swept).toHaveLength(7);
    // Nothing unexpired, kept or foreign was a candidate.
    for (const id of [
      ids.futureInstance,
      ids.foreignInstance,
      ids.foreignGroup,
      ids.futureVolume,
      ids.foreignVolume,
      keptImage,
    ])
      expect(byId.has(id), `${id} not touched`).toBe(false);

    // And moto agrees.
    const states = new Map(
      ((await c.send(new DescribeInstancesCommand({}))).Reservations ?? [])
        .flatMap((r) => r.Instances ?? [])
        .map((i) => [i.InstanceId!, i.State?.Name]),
    );
    expect(states.get(ids.expiredInstance)).toBe('terminated');
    for (const id of [ids.protectedInstance, ids.futureInstance, ids.foreignInstance])
      expect(states.get(id)).toBe('running');
    const groups = ((await c.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).map(
      (g) => g.GroupId,
    );
    expect(groups).toEqual(expect.arrayContaining([heldGroup, ids.foreignGroup]));
    expect(groups).not.toContain(ids.expiredGroup);
    const volumes = ((await c.send(new DescribeVolumesCommand({}))).Volumes ?? []).map((v) => v.VolumeId);
    expect(volumes).toEqual(expect.arrayContaining([ids.futureVolume, ids.foreignVolume]));
    expect(volumes).not.toContain(ids.expiredVolume);
    const images = ((await c.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images ?? []).map(
      (i) => i.ImageId,
    );
    expect(images).toContain(keptImage);
    expect(images).not.toContain(expiredImage);
    const snapshots = (
      (await c.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots ?? []
    ).map((s) => s.SnapshotId);
    expect(snapshots).not.toContain(snapshot.SnapshotId);
  }, 120_000);

  it('finds an instance whose RunInstances answer was lost (by its ovenproof:key tag: moto has no client-token filter) and deletes it', async () => {
    const proxy = await startMotoProxy(moto.url, (r) =>
      r.action === 'RunInstances' ? 'lose-answer' : 'forward',
    );
    try {
      const dir = await mkdtemp(join(tmpdir(), 'ovenproof-moto-'));
      const provider = createEc2Provider({
        region: MOTO_REGION,
        endpoint: proxy.url,
        credentials: MOTO_CREDENTIALS,
        subnetId,
        sshCidr: '127.0.0.1/32',
        ...FAST_SETTINGS,
      });
      const ledger = await Ledger.create(join(dir, 'ledger.json'), 'lost-answer', {
        name: 'ec2',
        ec2: provider.toJSON(),
      });
      const log = memoryLogger();
      const ctx: RunContext = {
        runId: 'lost-answer',
        expiresAt: new Date(Date.now() + 3600_000),
        journal: ledger,
        signal: new AbortController().signal,
        log,
        progress: () => undefined,
        tags: {},
      };
      const error = await provider.launch(ctx, launchSpec(MOTO_AMI)).then(
        () => null,
        (e: Error) => e,
      );
      expect(error?.message).toMatch(/^ec2:RunInstances ami-\w+ failed: .+/);
      expect(error?.message).not.toMatch(/Error$/);
      const open = ledger.live();
      expect(open.map((e) => [e.kind, e.id])).toEqual([['instance', null]]);
      // moto launched it: the instance is running although ovenproof never learned its id.
      const key = open[0]!.key;
      const tagged = await moto
        .client()
        .send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${EC2_TAGS.key}`, Values: [key] }] }));
      const lostId = tagged.Reservations?.[0]?.Instances?.[0]?.InstanceId;
      expect(lostId).toMatch(/^i-/);

      const report = await cleanupLedger(ledger, async () => provider, log);
      expect(report.failed).toEqual([]);
      expect(report.deleted.map((e) => [e.kind, e.id])).toEqual([['instance', lostId]]);
      expect(ledger.live()).toEqual([]);
      // Looked up by client token first (moto answers HTTP 500), then by the tag.
      const lookups = proxy.requests
        .filter((r) => r.action === 'DescribeInstances' && r.params.get('Filter.1.Name'))
        .map((r) => r.params.get('Filter.1.Name'));
      expect(lookups.slice(0, 2)).toEqual(['client-token', `tag:${EC2_TAGS.key}`]);
      expect(await moto.leftoversOf('lost-answer')).toEqual([]);
    } finally {
      await proxy.close();
    }
  }, 120_000);
});
