/**
 * The instance bake's steps after SSH — stop, create image, wait for the image, terminate — failing on
 * the EC2 provider against the fault-injecting endpoint. These steps need no SSH session of their own,
 * so they run here on the bake's real step runner right after the builder's launch, with the SSH steps
 * (which need a VM) left out. Each failure must leave the ledger with no live entry (so the pipeline's
 * safety net, which acts on live entries, would have nothing to report) and nothing at the endpoint.
 * The whole Action with a real VM behind the builder fails one of them in ec2-pipeline.qemu.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Step } from '../../src/common/steps.js';
import { osPluginFor } from '../../src/baker/os/index.js';
import {
  createImageFromBuilder,
  launchBuilder,
  stopBuilder,
  terminateBuilder,
} from '../../src/baker/steps/builder.js';
import { runBakeSteps } from '../../src/baker/steps/run.js';
import type { InstanceState } from '../../src/baker/steps/state.js';
import type { Ec2Endpoint } from '../support/ec2-endpoint/index.js';
import { FAST, harness, REGION, type Harness } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const STEPS: Step<InstanceState>[] = [launchBuilder, stopBuilder, createImageFromBuilder, terminateBuilder];

async function bakeState(h: Harness): Promise<InstanceState> {
  const baseId = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
  const base = (await h.provider.describeImage(baseId))!;
  return {
    provider: h.provider,
    ctx: h.ctx,
    bake: {
      base,
      plugin: osPluginFor(base.os),
      packageFiles: [],
      packages: ['hello'],
      provisionScript: null,
      bakeKey: 'b'.repeat(64),
      strategy: 'instance',
      imageName: 'debian-12-hello-steps',
      sshUser: 'admin',
    },
    target: null,
    root: null,
    indexCache: null,
    sourcesDigest: null,
    staged: null,
    // What the install steps would have recorded over SSH.
    packages: { hello: '2.10-3' },
    image: null,
    sshTimeoutMs: 1_000,
    builderTtlMs: 30 * 60_000,
    clientKey: null,
    instance: null,
    terminated: false,
    session: null,
  };
}

/** Calls `act` once the endpoint has answered `action` (polled while the bake runs). */
function after(ec2: Ec2Endpoint, action: string, act: () => void): () => void {
  const timer = setInterval(() => {
    if (!ec2.requests.some((r) => r.action === action && r.status === 200 && !r.dryRun)) return;
    clearInterval(timer);
    act();
  }, 5);
  return () => clearInterval(timer);
}

async function expectNothingLeft(h: Harness): Promise<void> {
  expect(h.ledger.live()).toEqual([]);
  expect(h.ec2.live()).toEqual([]);
}

describe('instance bake steps after SSH on ec2 that fail close their own ledger entries', () => {
  it('stop: StopInstances denied', async () => {
    h = await harness();
    const state = await bakeState(h);
    h.ec2.inject({ type: 'access-denied', action: 'StopInstances' });
    await expect(runBakeSteps(STEPS, state)).rejects.toThrow(
      /ec2:StopInstances is not allowed for these credentials \(UnauthorizedOperation\)/,
    );
    await expectNothingLeft(h);
  });

  it('stop: the builder terminates instead of stopping', async () => {
    h = await harness();
    const state = await bakeState(h);
    h.ec2.inject({ type: 'slow', kind: 'instance', ms: 500 });
    const ec2 = h.ec2;
    const stopWatching = after(ec2, 'StopInstances', () => {
      const builder = [...ec2.region(REGION).instances.values()][0]!;
      ec2.killInstance(REGION, builder.id, 'Server.InternalError: Internal error on stop');
    });
    await expect(runBakeSteps(STEPS, state)).rejects.toThrow(
      /waiting for instance i-\w+ to stop \(ec2:DescribeInstances\) failed: it reached a state it cannot leave/,
    );
    stopWatching();
    await expectNothingLeft(h);
  });

  it('create image: CreateImage denied', async () => {
    h = await harness();
    const state = await bakeState(h);
    h.ec2.inject({ type: 'access-denied', action: 'CreateImage' });
    await expect(runBakeSteps(STEPS, state)).rejects.toThrow(
      /ec2:CreateImage is not allowed for these credentials \(UnauthorizedOperation\)/,
    );
    expect(h.ledger.entries().find((e) => e.kind === 'image')?.state).toBe('deleted');
    await expectNothingLeft(h);
  });

  it('wait for the image: it fails', async () => {
    h = await harness();
    const state = await bakeState(h);
    h.ec2.inject({ type: 'image-fails', pendingMs: 200 });
    await expect(runBakeSteps(STEPS, state)).rejects.toThrow(
      /waiting for image ami-\w+ to become available \(ec2:DescribeImages\) failed: it reached a state it cannot leave \(state failed: Image creation failed/,
    );
    await expectNothingLeft(h);
  });

  it('wait for the image: it is still pending when the wait ends', async () => {
    h = await harness({
      provider: { waitTimeoutsMs: { ...FAST.waitTimeoutsMs, imageAvailable: 300 } },
    });
    const state = await bakeState(h);
    h.ec2.inject({ type: 'slow', kind: 'image', ms: 60_000 });
    await expect(runBakeSteps(STEPS, state)).rejects.toThrow(
      /waiting for image ami-\w+ to become available \(ec2:DescribeImages\) failed: still not there after/,
    );
    await expectNothingLeft(h);
  });

  it('terminate: TerminateInstances fails, the launch step cleanup terminates the builder, the image goes', async () => {
    // Both SDK attempts of the terminate step answer HTTP 500; the cleanup's own call goes through.
    h = await harness({ provider: { maxAttempts: 2 } });
    const state = await bakeState(h);
    h.ec2.inject({ type: 'http-500', count: 2, action: 'TerminateInstances' });
    await expect(runBakeSteps(STEPS, state)).rejects.toThrow(
      /ec2:TerminateInstances i-\w+ failed: InternalError/,
    );
    // The image was created, then deregistered with its snapshot as the failed bake's cleanup.
    expect(h.ec2.requests.some((r) => r.action === 'DeregisterImage' && r.status === 200)).toBe(true);
    await expectNothingLeft(h);
  });

  it('every step passes: the image stays, everything else is gone', async () => {
    h = await harness();
    const state = await bakeState(h);
    await runBakeSteps(STEPS, state);
    expect(state.image?.bakeKey).toBe('b'.repeat(64));
    expect(h.ledger.live().map((e) => e.kind)).toEqual(['image']);
    expect(
      h.ec2
        .live()
        .map((r) => r.kind)
        .sort(),
    ).toEqual(['image', 'snapshot']);
  });
});
