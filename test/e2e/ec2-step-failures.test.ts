/**
 * Bake and launch steps of the Action on `provider: ec2` failing against the fault-injecting EC2
 * endpoint (instances without VMs: their SSH never answers). Each failing step must undo what it
 * created and close its ledger entries itself, so the pipeline's safety net has nothing to report
 * ("still live after the steps' cleanups" would mean a step forgot its bookkeeping) and the post step
 * finds everything already cleaned up.
 *
 * One case per step that can fail without a VM: in the instance bake, the builder's launch (security
 * group, its ingress rule, RunInstances, capacity, the wait until it runs) and the wait for its SSH; in
 * the launch stage (after a bake cache hit) the same for the test instance. The builder's steps after
 * SSH (stop, create image, wait for the image) are failed in test/ec2/bake-steps.test.ts and, with a
 * real VM behind the builder, in test/e2e/ec2-pipeline.qemu.test.ts.
 *
 * Kills at step boundaries the other suites do not reach (ec2-pipeline.qemu kills in the build, while
 * the builder waits for SSH, in RunInstances of the launch stage, in the test and report stages; the
 * moto suite during CreateSecurityGroup, RunInstances and at fixed times): while the builder is still
 * pending, and while the launch stage waits for the test instance's SSH.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { prepareBake } from '../../src/baker/index.js';
import { Ledger } from '../../src/pipeline/ledger.js';
import { createEc2Provider } from '../../src/providers/ec2/index.js';
import { startFakeGitHub, type FakeGitHub } from '../support/github-api.js';
import { ACCOUNT_ID, startEc2Endpoint, type Ec2Endpoint } from '../support/ec2-endpoint/index.js';
import { freePort } from '../support/moto.js';
// @ts-expect-error: plain ESM script without type declarations
import { runAction } from '../../script/run-action.mjs';

const REGION = 'eu-west-1';
const workspace = resolve('examples/hello-deb');
/** One fixed id for the Debian base AMI, so that the bake key computed below is the run's. */
const DEBIAN_AMI = 'ami-0de6a11e12bafe002';
/** The ec2 provider's default base image and the example's ssh-user, as the Action resolves them. */
const BASE_IMAGE = 'name=debian-12-amd64-*,owner=136693071363';
const INSTANCE_TYPE = 't3.small';
let gh: FakeGitHub;
let eventPath: string;
/** The bake key of examples/hello-deb on DEBIAN_AMI: an image tagged with it is a bake cache hit. */
let bakeKey: string;
const endpoints: Ec2Endpoint[] = [];

beforeAll(async () => {
  gh = await startFakeGitHub();
  const dir = await mkdtemp(join(tmpdir(), 'ovenproof-ec2-steps-'));
  eventPath = join(dir, 'event.json');
  await writeFile(eventPath, JSON.stringify({}));
  // The example's package is reproducible: built here, it has the digest the Action's build gives it.
  const deb = execFileSync('sh', [join(workspace, 'build.sh'), join(dir, 'build')], {
    encoding: 'utf8',
  }).trim();
  const ec2 = await startEc2Endpoint();
  endpoints.push(ec2);
  ec2.seedImage(REGION, { id: DEBIAN_AMI, name: 'debian-12-amd64-20260101-1' });
  const provider = createEc2Provider({
    region: REGION,
    endpoint: ec2.url,
    credentials: ec2.credentials,
    imdsEndpoint: 'http://127.0.0.1:9',
    imdsTimeoutMs: 300,
  });
  const prepared = await prepareBake(provider, {
    baseImage: BASE_IMAGE,
    packageFiles: [deb],
    packages: [],
    strategy: 'auto',
    sshUser: 'root',
  });
  expect(prepared.strategy).toBe('instance');
  bakeKey = prepared.bakeKey;
}, 120_000);

afterAll(async () => {
  for (const ec2 of endpoints) await ec2.close();
  await gh?.close();
});

interface ActionRun {
  main: { code: number | null; signal: string | null; stdout: string };
  post: { code: number | null; stdout: string } | null;
  state: Record<string, string>;
}

interface Scenario {
  /** The launch stage's cases start from a bake cache hit, so no builder comes first. */
  cacheHit?: boolean;
  inputs?: Record<string, string>;
  prepare?: (ec2: Ec2Endpoint) => void;
  onMainSpawn?: (child: ChildProcess, ec2: Ec2Endpoint) => void;
}

async function run(scenario: Scenario): Promise<{ run: ActionRun; ec2: Ec2Endpoint }> {
  const sshPort = await freePort();
  const ec2 = await startEc2Endpoint({ transitionMs: 50, sshPort });
  endpoints.push(ec2);
  ec2.seedImage(REGION, { id: DEBIAN_AMI, name: 'debian-12-amd64-20260101-1' });
  if (scenario.cacheHit)
    ec2.seedImage(REGION, {
      name: 'debian-12-amd64-20260101-1-hello-deb-baked',
      owner: ACCOUNT_ID,
      tags: { 'ovenproof:bake-key': bakeKey, 'ovenproof:kept': 'true', 'ovenproof:os': 'debian-12' },
    });
  scenario.prepare?.(ec2);
  const onMainSpawn = scenario.onMainSpawn;
  const result = (await runAction({
    inputs: {
      'github-token': 'ghs_steps',
      provider: 'ec2',
      region: REGION,
      'ssh-cidr': '127.0.0.0/8',
      'instance-type': INSTANCE_TYPE,
      ...scenario.inputs,
    },
    eventName: 'push',
    eventPath,
    workspace,
    env: {
      GITHUB_API_URL: gh.url,
      GITHUB_SHA: 'c0ffee0ddba11cafe0123456789abcdef0b1a5e7',
      GITHUB_REPOSITORY: 'octo-org/hello-deb',
      AWS_ACCESS_KEY_ID: ec2.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ec2.credentials.secretAccessKey,
      AWS_REGION: REGION,
      AWS_EC2_METADATA_DISABLED: 'true',
      OVENPROOF_EC2_SETTINGS: JSON.stringify({
        endpoint: ec2.url,
        imdsEndpoint: 'http://127.0.0.1:9',
        imdsTimeoutMs: 300,
        sshPort,
        pollIntervalMs: 200,
        consistencyTimeoutMs: 5_000,
      }),
    },
    ...(onMainSpawn ? { onMainSpawn: (child: ChildProcess) => onMainSpawn(child, ec2) } : {}),
  })) as ActionRun;
  if (scenario.cacheHit) {
    // The bake was a cache hit: no builder was launched from the Debian base.
    expect(result.main.stdout).toMatch(/bake cache hit: reusing image ami-\w+/);
    const launched = ec2.requests.filter((r) => r.action === 'RunInstances' && !r.dryRun);
    expect(launched.map((r) => r.params.ImageId)).not.toContain(DEBIAN_AMI);
  }
  return { run: result, ec2 };
}

/** The instance the endpoint launched first, once it has (polled). */
function onFirstInstance(
  ec2: Ec2Endpoint,
  child: ChildProcess,
  act: (id: string) => void,
  when: (state: string) => boolean,
): void {
  const timer = setInterval(() => {
    const instance = [...ec2.region(REGION).instances.values()][0];
    if (!instance || !when(instance.state)) return;
    clearInterval(timer);
    act(instance.id);
  }, 25);
  child.on('exit', () => clearInterval(timer));
}

/** Ends the first instance while it is still pending, as a failed boot or a spot interruption would. */
function killWhilePending(child: ChildProcess, ec2: Ec2Endpoint): void {
  onFirstInstance(
    ec2,
    child,
    (id) => ec2.killInstance(REGION, id, 'Server.InternalError: Internal error on launch'),
    (state) => state === 'pending',
  );
}

/** Terminates the first instance once it runs (so ovenproof is waiting for its SSH). */
function terminateWhileWaitingForSsh(child: ChildProcess, ec2: Ec2Endpoint): void {
  let out = '';
  child.stdout?.on('data', (data: Buffer) => {
    out += data.toString();
    const id = /instance (i-\w+) \(\S+\) running at/.exec(out)?.[1];
    if (!id || ec2.region(REGION).instances.get(id)?.state !== 'running') return;
    ec2.killInstance(REGION, id, 'Server.SpotInstanceTermination: Spot instance termination');
  });
}

async function expectCleanFailure(r: { run: ActionRun; ec2: Ec2Endpoint }): Promise<void> {
  expect(r.run.main.code, r.run.main.stdout).toBe(2);
  expect(r.run.main.stdout).not.toMatch(/still live after the steps' cleanups/);
  expect(r.run.post?.code, r.run.post?.stdout).toBe(0);
  expect(r.run.post?.stdout).toMatch(/already cleaned up/);
  expect((await Ledger.open(r.run.state.ledgerPath!)).live()).toEqual([]);
  expect(r.ec2.live().filter((res) => res.tags['ovenproof:kept'] !== 'true')).toEqual([]);
}

interface StepCase {
  step: string;
  scenario: Scenario;
  /** What the run must say about the failure. */
  message: RegExp;
}

/** The failures of one instance's launch and SSH wait, for the builder and for the test instance. */
function instanceCases(purpose: 'builder' | 'test instance'): StepCase[] {
  const cacheHit = purpose === 'test instance';
  return [
    {
      step: 'security group: CreateSecurityGroup denied',
      scenario: {
        cacheHit,
        prepare: (ec2) => ec2.inject({ type: 'access-denied', action: 'CreateSecurityGroup' }),
      },
      message: /ec2:CreateSecurityGroup is not allowed for these credentials \(UnauthorizedOperation\)/,
    },
    {
      step: 'security group: AuthorizeSecurityGroupIngress denied',
      scenario: {
        cacheHit,
        prepare: (ec2) => ec2.inject({ type: 'access-denied', action: 'AuthorizeSecurityGroupIngress' }),
      },
      message:
        /ec2:AuthorizeSecurityGroupIngress is not allowed for these credentials \(UnauthorizedOperation\)/,
    },
    {
      step: 'RunInstances denied',
      scenario: { cacheHit, prepare: (ec2) => ec2.inject({ type: 'access-denied', action: 'RunInstances' }) },
      message: /ec2:RunInstances is not allowed for these credentials \(UnauthorizedOperation\)/,
    },
    {
      step: 'RunInstances: no capacity for any instance type',
      scenario: {
        cacheHit,
        prepare: (ec2) => ec2.inject({ type: 'insufficient-capacity', instanceType: INSTANCE_TYPE }),
      },
      message: /no capacity for any instance type \(t3\.small: InsufficientInstanceCapacity\)/,
    },
    {
      step: 'wait until running: the instance ends while pending',
      scenario: {
        cacheHit,
        // Long enough a pending state for the test to end the instance in it.
        prepare: (ec2) => ec2.inject({ type: 'slow', kind: 'instance', ms: 3_000 }),
        onMainSpawn: killWhilePending,
      },
      message: /it left pending \(state terminated: Server\.InternalError: Internal error on launch\)/,
    },
    {
      step: 'wait for SSH: no answer within ssh-timeout',
      scenario: { cacheHit, inputs: { 'ssh-timeout': '4s' } },
      // The instance's console output comes first (a warning), then the failure.
      message: new RegExp(
        `console output of ${purpose} i-\\w+[\\s\\S]*SSH to root@127\\.1\\.\\d+\\.\\d+:\\d+ not ready after 4s`,
      ),
    },
    {
      step: 'wait for SSH: the instance is terminated while waited for, and the wait ends at once',
      // Far longer than the test may take: only the early stop can end the wait in time.
      scenario: { cacheHit, inputs: { 'ssh-timeout': '30m' }, onMainSpawn: terminateWhileWaitingForSsh },
      message:
        /cannot succeed: instance i-\w+ is (shutting-down|terminated) \(Server.SpotInstanceTermination: Spot instance termination\)/,
    },
  ];
}

describe('instance bake steps on ec2 that fail close their own ledger entries', () => {
  for (const c of instanceCases('builder')) {
    it(`bake, builder ${c.step}`, async () => {
      const r = await run(c.scenario);
      expect(r.run.main.stdout).toMatch(c.message);
      await expectCleanFailure(r);
    }, 300_000);
  }
});

/**
 * The ingress rule and the capacity fallback are the same provider code for both instances (before the
 * launch stage has an instance to clean up); the builder's cases above cover them.
 */
const SAME_AS_BUILDER = new Set([
  'security group: AuthorizeSecurityGroupIngress denied',
  'RunInstances: no capacity for any instance type',
]);

describe('launch stage steps on ec2 that fail close their own ledger entries', () => {
  for (const c of instanceCases('test instance').filter((c) => !SAME_AS_BUILDER.has(c.step))) {
    it(`launch, test instance ${c.step}`, async () => {
      const r = await run(c.scenario);
      expect(r.run.main.stdout).toMatch(c.message);
      await expectCleanFailure(r);
    }, 300_000);
  }
});

describe('the Action on ec2 killed at a step boundary, then the post step', () => {
  async function expectPostCleansUp(r: { run: ActionRun; ec2: Ec2Endpoint }, killed: boolean) {
    expect(killed, r.run.main.stdout).toBe(true);
    expect(r.run.main.signal).toBe('SIGKILL');
    expect(r.run.post?.code, r.run.post?.stdout).toBe(0);
    expect(r.run.post?.stdout).toMatch(/still live after the main step/);
    expect((await Ledger.open(r.run.state.ledgerPath!)).live()).toEqual([]);
    expect(r.ec2.live().filter((res) => res.tags['ovenproof:kept'] !== 'true')).toEqual([]);
  }

  it('SIGKILL while the builder is still pending (launched, not yet running)', async () => {
    let killed = false;
    const r = await run({
      prepare: (ec2) => ec2.inject({ type: 'slow', kind: 'instance', ms: 5_000 }),
      onMainSpawn: (child, ec2) =>
        onFirstInstance(
          ec2,
          child,
          () => {
            killed = true;
            child.kill('SIGKILL');
          },
          (state) => state === 'pending',
        ),
    });
    await expectPostCleansUp(r, killed);
    // The builder was launched, its id recorded, and it was terminated by the post step.
    expect([...r.ec2.region(REGION).instances.values()].map((i) => i.state)).toEqual(['terminated']);
    expect(r.ec2.region(REGION).groups.size).toBe(0);
  }, 300_000);

  it('SIGKILL while the launch stage waits for the test instance to answer SSH', async () => {
    let killed = false;
    const r = await run({
      cacheHit: true,
      onMainSpawn: (child) => {
        let out = '';
        child.stdout?.on('data', (data: Buffer) => {
          out += data.toString();
          if (killed || !/launched instance i-\w+ at/.test(out)) return;
          killed = true;
          child.kill('SIGKILL');
        });
      },
    });
    await expectPostCleansUp(r, killed);
    expect([...r.ec2.region(REGION).instances.values()].map((i) => i.state)).toEqual(['terminated']);
    expect(r.ec2.region(REGION).groups.size).toBe(0);
  }, 300_000);
});
