import { afterEach, describe, expect, it } from 'vitest';
import { createEc2Provider } from '../../src/providers/ec2/index.js';
import { FAST, harness, launchSpec, REGION, type Harness } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function launchAndTerminate(h: Harness, extra: Parameters<typeof launchSpec>[1] = {}) {
  const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
  const info = await h.provider.launch(h.ctx, launchSpec(base, extra));
  await h.provider.terminate(h.ctx, info.id);
  return info;
}

const runRequests = (h: Harness) => h.ec2.requests.filter((r) => r.action === 'RunInstances' && !r.dryRun);

describe('ec2 provider under injected faults', () => {
  it('rides out a throttling burst with the standard retry strategy', async () => {
    h = await harness();
    h.ec2.inject({ type: 'throttle', count: 3 });
    await launchAndTerminate(h);
    expect(h.ec2.requests.filter((r) => r.errorCode === 'RequestLimitExceeded')).toHaveLength(3);
    expect(h.ec2.live()).toEqual([]);
  });

  it('treats NotFound right after RunInstances and CreateSecurityGroup as "not visible yet"', async () => {
    h = await harness();
    h.ec2.inject({ type: 'not-found-after-create', action: 'RunInstances', count: 3 });
    h.ec2.inject({ type: 'not-found-after-create', action: 'CreateSecurityGroup', count: 2 });
    await launchAndTerminate(h);
    expect(
      h.ec2.requests.filter((r) => r.errorCode === 'InvalidInstanceID.NotFound').length,
    ).toBeGreaterThanOrEqual(3);
    expect(h.ec2.requests.filter((r) => r.errorCode === 'InvalidGroup.NotFound')).toHaveLength(2);
    expect(h.ec2.live()).toEqual([]);
  });

  it('falls back to the next instance type on InsufficientInstanceCapacity', async () => {
    h = await harness();
    h.ec2.inject({ type: 'insufficient-capacity', instanceType: 't3.small' });
    await launchAndTerminate(h, { instanceTypes: ['t3.small', 't3a.small'] });
    const runs = runRequests(h);
    expect(runs.map((r) => r.params.InstanceType)).toEqual(['t3.small', 't3a.small']);
    expect(runs[0]!.params.ClientToken).not.toBe(runs[1]!.params.ClientToken);
    expect(
      h.ledger
        .entries()
        .filter((e) => e.kind === 'instance')
        .map((e) => e.state),
    ).toEqual(['deleted', 'deleted']);
    expect(h.ec2.live()).toEqual([]);
  });

  it('fails with a clear error when no instance type has capacity, leaving nothing behind', async () => {
    h = await harness();
    h.ec2.inject({ type: 'insufficient-capacity', instanceType: 't3.small' });
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    await expect(h.provider.launch(h.ctx, launchSpec(base, { instanceTypes: ['t3.small'] }))).rejects.toThrow(
      /no capacity for any instance type \(t3\.small: InsufficientInstanceCapacity\)/,
    );
    expect(h.ec2.live()).toEqual([]);
    expect(h.ledger.live()).toEqual([]);
  });

  it('does not launch a duplicate when the RunInstances answer is lost and the SDK retries', async () => {
    h = await harness();
    h.ec2.inject({ type: 'http-500', count: 1, action: 'RunInstances', afterApply: true });
    await launchAndTerminate(h);
    const runs = runRequests(h);
    expect(runs).toHaveLength(2);
    expect(runs[0]!.status).toBe(500);
    expect(runs[1]!.params.ClientToken).toBe(runs[0]!.params.ClientToken);
    expect(h.ec2.region(REGION).instances.size).toBe(1);
    expect(h.ec2.live()).toEqual([]);
  });

  it('retries plain HTTP 500s', async () => {
    h = await harness();
    h.ec2.inject({ type: 'http-500', count: 2 });
    await launchAndTerminate(h);
    expect(h.ec2.requests.filter((r) => r.status === 500)).toHaveLength(2);
    expect(h.ec2.live()).toEqual([]);
  });

  it('fails fast naming the action when DescribeInstances is denied, before any waiter spins', async () => {
    h = await harness({
      provider: { waitTimeoutsMs: { ...FAST.waitTimeoutsMs, instanceRunning: 600_000 } },
    });
    h.ec2.inject({ type: 'access-denied', action: 'DescribeInstances' });
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    await expect(h.provider.launch(h.ctx, launchSpec(base))).rejects.toThrow(
      /ec2:DescribeInstances is not allowed for these credentials \(UnauthorizedOperation\)/,
    );
    // One DryRun probe answered UnauthorizedOperation; no waiter polling followed it.
    const describes = h.ec2.requests.filter((r) => r.action === 'DescribeInstances');
    expect(describes.filter((r) => !r.dryRun).length).toBeLessThanOrEqual(1);
    // The launch cleaned up after itself as far as the denied permission allowed: instance terminated.
    expect(h.ec2.live().filter((r) => r.kind === 'instance')).toEqual([]);
  });

  it('names RunInstances when launching is denied and removes the temporary security group', async () => {
    h = await harness();
    h.ec2.inject({ type: 'access-denied', action: 'RunInstances' });
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    await expect(h.provider.launch(h.ctx, launchSpec(base))).rejects.toThrow(
      /ec2:RunInstances is not allowed/,
    );
    expect(h.ec2.live()).toEqual([]);
  });

  it('reports a dead instance instead of waiting for the waiter timeout', async () => {
    h = await harness();
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    h.ec2.inject({ type: 'slow', kind: 'instance', ms: 300 });
    const launching = h.provider.launch(h.ctx, launchSpec(base));
    // Kill the instance while it is pending (as a failed boot or a spot interruption would).
    const instances = h.ec2.region(REGION).instances;
    while (instances.size === 0) await new Promise((r) => setTimeout(r, 5));
    for (const id of h.ec2.region(REGION).instances.keys()) {
      h.ec2.killInstance(REGION, id, 'Server.InternalError: Internal error on launch');
    }
    await expect(launching).rejects.toThrow(
      /waiting for instance i-\w+ to run .*state terminated: Server.InternalError/,
    );
    expect(h.ec2.live()).toEqual([]);
  });

  it('names the wait and its limit when an instance never reaches running', async () => {
    h = await harness({
      provider: { waitTimeoutsMs: { ...FAST.waitTimeoutsMs, instanceRunning: 300 } },
    });
    h.ec2.inject({ type: 'slow', kind: 'instance', ms: 1_000 });
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    await expect(h.provider.launch(h.ctx, launchSpec(base))).rejects.toThrow(
      /waiting for instance i-\w+ to run \(ec2:DescribeInstances\) failed: still not there after 300ms/,
    );
    // The failed launch terminated what it started.
    expect(h.ec2.live()).toEqual([]);
    expect(h.ledger.live()).toEqual([]);
  });

  it('retries DeleteSecurityGroup while the terminated instance still holds it', async () => {
    h = await harness();
    h.ec2.inject({ type: 'slow', kind: 'instance', ms: 150 });
    await launchAndTerminate(h);
    expect(h.ec2.live()).toEqual([]);
  });

  it('uses the configured security group, subnet and spot capacity without creating a group', async () => {
    h = await harness({ provider: { subnetId: 'subnet-0abc', spot: true } });
    const sg = h.ec2.seedSecurityGroup(REGION, { name: 'corp-ssh' });
    h.provider = createEc2Provider({
      ...h.provider.toJSON(),
      securityGroupId: sg,
      credentials: h.ec2.credentials,
      resolvePublicAddress: async () => {
        throw new Error('must not be asked when a security group is given');
      },
    });
    await launchAndTerminate(h);
    const p = runRequests(h)[0]!.params;
    expect(p['SecurityGroupId.1']).toBe(sg);
    expect(p.SubnetId).toBe('subnet-0abc');
    expect(p['InstanceMarketOptions.MarketType']).toBe('spot');
    expect(h.ec2.requests.some((r) => r.action === 'CreateSecurityGroup')).toBe(false);
    expect(h.ec2.region(REGION).groups.has(sg)).toBe(true);
  });
});
