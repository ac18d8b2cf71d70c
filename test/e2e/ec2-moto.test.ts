/**
 * The Action (main step, then post step, from the TypeScript sources) on `provider: ec2` against
 * moto's server, an EC2 implementation nobody here wrote: the main step is killed with SIGKILL at
 * 2, 5 and 10 s, and while CreateSecurityGroup or RunInstances is in flight (moto acts on the request,
 * the killed process never sees the answer); the post step must then leave nothing the run created.
 *
 * moto's instances never boot: a run that is not killed waits for SSH until `ssh-timeout` and then
 * fails with the builder's console output, its own cleanups leaving nothing. A pass-through proxy in
 * front of moto sees each request, which times the kills on a call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ledger } from '../../src/pipeline/ledger.js';
import { startFakeGitHub, type FakeGitHub } from '../support/github-api.js';
import {
  MOTO_CREDENTIALS,
  MOTO_REGION,
  freePort,
  startMoto,
  startMotoProxy,
  type Moto,
  type MotoProxy,
} from '../support/moto.js';
// @ts-expect-error: plain ESM script without type declarations
import { runAction } from '../../script/run-action.mjs';

const workspace = resolve('examples/hello-deb');
let moto: Moto;
let subnetId: string;
let debianAmi: string;
let gh: FakeGitHub;
let eventPath: string;

beforeAll(async () => {
  moto = await startMoto();
  subnetId = await moto.network();
  debianAmi = await moto.debianImage();
  gh = await startFakeGitHub();
  const dir = await mkdtemp(join(tmpdir(), 'ovenproof-moto-kills-'));
  eventPath = join(dir, 'event.json');
  await writeFile(eventPath, JSON.stringify({}));
}, 120_000);

afterAll(async () => {
  await moto?.stop();
  await gh?.close();
});

interface ActionRun {
  main: { code: number | null; signal: string | null; stdout: string };
  post: { code: number | null; stdout: string } | null;
  state: Record<string, string>;
}

type Kill = { afterMs: number } | { onAction: string };

async function killedRun(
  kill: Kill | null,
  extraInputs: Record<string, string> = {},
): Promise<{ run: ActionRun; proxy: MotoProxy; killed: boolean }> {
  let child: ChildProcess | null = null;
  let killed = false;
  const killNow = () => {
    if (killed || !child) return;
    killed = true;
    child.kill('SIGKILL');
  };
  const proxy = await startMotoProxy(moto.url, (request) => {
    // The request reaches moto; the main step dies before its answer arrives.
    if (kill && 'onAction' in kill && request.action === kill.onAction) killNow();
  });
  // A loopback port nothing listens on: the instances' SSH never answers.
  const sshPort = await freePort();
  const run = (await runAction({
    inputs: {
      'github-token': 'ghs_motokills',
      provider: 'ec2',
      region: MOTO_REGION,
      'subnet-id': subnetId,
      'base-image': debianAmi,
      // Always given: the runner's public-address lookup must never run in tests.
      'ssh-cidr': '127.0.0.0/8',
      ...extraInputs,
    },
    eventName: 'push',
    eventPath,
    workspace,
    env: {
      GITHUB_API_URL: gh.url,
      GITHUB_SHA: 'c0ffee0ddba11cafe0123456789abcdef0b1a5e7',
      GITHUB_REPOSITORY: 'octo-org/hello-deb',
      AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
      AWS_REGION: MOTO_REGION,
      AWS_EC2_METADATA_DISABLED: 'true',
      OVENPROOF_EC2_SETTINGS: JSON.stringify({
        endpoint: proxy.url,
        imdsEndpoint: 'http://127.0.0.1:9',
        imdsTimeoutMs: 300,
        sshPort,
        pollIntervalMs: 200,
        maxAttempts: 2,
        consistencyTimeoutMs: 5_000,
      }),
    },
    onMainSpawn: (spawned: ChildProcess) => {
      child = spawned;
      if (kill && 'afterMs' in kill) setTimeout(killNow, kill.afterMs);
    },
  })) as ActionRun;
  await proxy.close();
  return { run, proxy, killed };
}

async function expectNothingLeft(run: ActionRun): Promise<void> {
  expect(run.main.signal, run.main.stdout).toBe('SIGKILL');
  expect(run.post?.code, run.post?.stdout).toBe(0);
  if (!run.state.ledgerPath) return; // killed before the ledger existed: nothing was created
  const ledger = await Ledger.open(run.state.ledgerPath);
  expect(ledger.live()).toEqual([]);
  expect(await moto.leftoversOf(ledger.runId)).toEqual([]);
}

describe('the Action on ec2 against moto, killed, then the post step', () => {
  for (const seconds of [2, 5, 10]) {
    it(`SIGKILL ${seconds} s after start`, async () => {
      const { run } = await killedRun({ afterMs: seconds * 1000 });
      await expectNothingLeft(run);
    }, 300_000);
  }

  for (const action of ['CreateSecurityGroup', 'RunInstances']) {
    it(`SIGKILL while ${action} is in flight`, async () => {
      const { run, proxy, killed } = await killedRun({ onAction: action });
      expect(killed, `the run reached ${action}: ${run.main.stdout.slice(-3000)}`).toBe(true);
      expect(proxy.requests.some((r) => r.action === action)).toBe(true);
      expect(run.state.ledgerPath).toBeTruthy();
      const ledger = await Ledger.open(run.state.ledgerPath!);
      // The killed call's resource was journaled before the call: the post step found it by its key.
      const entry = ledger
        .entries()
        .find((e) => e.kind === (action === 'RunInstances' ? 'instance' : 'security-group'));
      expect(entry?.state).toBe('deleted');
      await expectNothingLeft(run);
    }, 300_000);
  }
});

describe('the Action on ec2 against moto, whose instances never boot', () => {
  it('fails after ssh-timeout with the builder console output, and its cleanups leave nothing', async () => {
    const { run } = await killedRun(null, { 'ssh-timeout': '15s' });
    expect(run.main.code, run.main.stdout).toBe(2);
    expect(run.main.stdout).toMatch(/SSH to root@127\.0\.0\.\d+:\d+ not ready after 15s/);
    // moto's canned console output of the builder, shown so the user sees why SSH never came up.
    expect(run.main.stdout).toMatch(/console output of builder i-\w+[\s\S]*Linux version/);
    expect(run.main.stdout).not.toMatch(/still live after the steps' cleanups/);
    expect(run.post?.stdout).toMatch(/already cleaned up/);
    const ledger = await Ledger.open(run.state.ledgerPath!);
    expect(ledger.live()).toEqual([]);
    expect(await moto.leftoversOf(ledger.runId)).toEqual([]);
  }, 300_000);
});
