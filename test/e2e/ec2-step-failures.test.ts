/**
 * Bake and launch steps of the Action on `provider: ec2` failing against the fault-injecting EC2
 * endpoint (instances without VMs: their SSH never answers). Each failing step must undo what it
 * created and close its ledger entries itself, so the pipeline's safety net has nothing to report
 * ("still live after the steps' cleanups" would mean a step forgot its bookkeeping) and the post step
 * finds everything already cleaned up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ledger } from '../../src/pipeline/ledger.js';
import { startFakeGitHub, type FakeGitHub } from '../support/github-api.js';
import { startEc2Endpoint, type Ec2Endpoint } from '../support/ec2-endpoint/index.js';
import { freePort } from '../support/moto.js';
// @ts-expect-error: plain ESM script without type declarations
import { runAction } from '../../script/run-action.mjs';

const REGION = 'eu-west-1';
const workspace = resolve('examples/hello-deb');
let gh: FakeGitHub;
let eventPath: string;
const endpoints: Ec2Endpoint[] = [];

beforeAll(async () => {
  gh = await startFakeGitHub();
  const dir = await mkdtemp(join(tmpdir(), 'ovenproof-ec2-steps-'));
  eventPath = join(dir, 'event.json');
  await writeFile(eventPath, JSON.stringify({}));
});

afterAll(async () => {
  for (const ec2 of endpoints) await ec2.close();
  await gh?.close();
});

interface ActionRun {
  main: { code: number | null; signal: string | null; stdout: string };
  post: { code: number | null; stdout: string } | null;
  state: Record<string, string>;
}

async function run(
  prepare: (ec2: Ec2Endpoint) => void,
  inputs: Record<string, string>,
  onMainSpawn?: (child: ChildProcess, ec2: Ec2Endpoint) => void,
): Promise<{ run: ActionRun; ec2: Ec2Endpoint }> {
  const sshPort = await freePort();
  const ec2 = await startEc2Endpoint({ transitionMs: 50, sshPort });
  endpoints.push(ec2);
  ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
  prepare(ec2);
  const result = (await runAction({
    fromSource: true,
    inputs: {
      'github-token': 'ghs_steps',
      provider: 'ec2',
      region: REGION,
      'ssh-cidr': '127.0.0.0/8',
      ...inputs,
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
  return { run: result, ec2 };
}

async function expectCleanFailure(r: { run: ActionRun; ec2: Ec2Endpoint }): Promise<void> {
  expect(r.run.main.code, r.run.main.stdout).toBe(2);
  expect(r.run.main.stdout).not.toMatch(/still live after the steps' cleanups/);
  expect(r.run.post?.code, r.run.post?.stdout).toBe(0);
  expect(r.run.post?.stdout).toMatch(/already cleaned up/);
  expect((await Ledger.open(r.run.state.ledgerPath!)).live()).toEqual([]);
  expect(r.ec2.live()).toEqual([]);
}

describe('bake and launch steps on ec2 that fail close their own ledger entries', () => {
  it('launch builder: RunInstances denied', async () => {
    const r = await run((ec2) => ec2.inject({ type: 'access-denied', action: 'RunInstances' }), {});
    expect(r.run.main.stdout).toMatch(
      /ec2:RunInstances is not allowed for these credentials \(UnauthorizedOperation\)/,
    );
    await expectCleanFailure(r);
  }, 300_000);

  it('wait for the builder: it is terminated while ovenproof waits for SSH, and the wait ends at once', async () => {
    const r = await run(
      () => undefined,
      // Far longer than the test may take: only the early stop can end the wait in time.
      { 'ssh-timeout': '30m' },
      (child, ec2) => {
        // Once ovenproof has seen the builder running (and so waits for SSH), it is terminated.
        let out = '';
        child.stdout?.on('data', (data: Buffer) => {
          out += data.toString();
          const id = /instance (i-\w+) \(\S+\) running at/.exec(out)?.[1];
          if (!id || ec2.region(REGION).instances.get(id)?.state !== 'running') return;
          ec2.killInstance(REGION, id, 'Server.SpotInstanceTermination: Spot instance termination');
        });
      },
    );
    expect(r.run.main.stdout).toMatch(
      /cannot succeed: instance i-\w+ is (shutting-down|terminated) \(Server.SpotInstanceTermination: Spot instance termination\)/,
    );
    expect(r.run.main.stdout).toMatch(/console output of builder i-\w+/);
    await expectCleanFailure(r);
  }, 300_000);
});
