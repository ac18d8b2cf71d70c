/**
 * The whole pipeline on `provider: ec2`, as GitHub runs the Action (`node dist/index.js`, then
 * `node dist/post.js`), against the fault-injecting EC2 endpoint on 127.0.0.1 through the real AWS SDK.
 *
 * Instances the endpoint launches are real where it matters: its RunInstances hook boots a
 * local-provider QEMU VM from the identity in the user data, StopInstances powers that VM off, and
 * CreateImage saves its disk as a local image that a later RunInstances of the new AMI boots. So the
 * instance bake (SSH, upload, apt install, hygiene, stop, image), the test stage (bats over SSH) and
 * the report stage run for real after an EC2-path bake and launch.
 *
 * Kills: SIGKILL of the main step in every stage, then the post step → nothing of the run stays live
 * (a kept image excepted) and no QEMU process of the run survives. A run whose ledger is lost is
 * cleaned by `ovenproof sweep --provider ec2` once its resources are past their expiry.
 *
 * VM boots are few: one passing run (builder + test instance), two kills that need a running
 * instance, one builder whose image fails; the kills in build, bake and launch and the lost ledger use
 * instances without a VM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ledger } from '../../src/pipeline/ledger.js';
import { parseUserData } from '../../src/providers/ec2/index.js';
import { instanceFiles } from '../../src/providers/local/instances.js';
import type { ImageManifest, RunContext } from '../../src/providers/provider.js';
import type { RunResult } from '../../src/common/run-result.js';
import { startFakeGitHub, type FakeGitHub } from '../support/github-api.js';
import { ensureBaseImage, localTestProvider } from '../support/local-base.js';
import { budgets, ovenproofDeadlines, timeoutFor } from '../support/timeouts.js';
import {
  ACCOUNT_ID,
  startEc2Endpoint,
  type Ec2Endpoint,
  type VmHookInput,
  type VmHookResult,
} from '../support/ec2-endpoint/index.js';
// @ts-expect-error: plain ESM script without type declarations
import { runAction } from '../../script/run-action.mjs';

const require = createRequire(import.meta.url);
const definitions = require('@octokit/webhooks-examples') as Array<{
  name: string;
  examples: Array<Record<string, unknown>>;
}>;

const REGION = 'eu-west-1';
const workspace = resolve('examples/hello-deb');
const SHA = 'c0ffee0ddba11cafe0123456789abcdef0b1a5e7';
/** One fixed id for the Debian base AMI in every endpoint, so that bake keys agree across scenarios. */
const DEBIAN_AMI = 'ami-0de6a11e12bafe001';
/** The ttl of the lost-ledger run; the pipeline adds a 15-minute margin to the expiry tag. */
const LOST_RUN_TTL = '2m';
const EXPIRY_AFTER_MS = (2 + 15) * 60_000;
/** How long the EC2 provider of these runs waits for each state of a resource. */
const EC2_WAITS = {
  instanceRunning: 120_000,
  instanceStopped: 180_000,
  instanceTerminated: 180_000,
  imageAvailable: 300_000,
  snapshotCompleted: 60_000,
  volume: 60_000,
  securityGroupDelete: 120_000,
  deviceAppears: 2_000,
};
/** An EC2 instance with a VM behind it: launched and running, later terminated with its security group. */
const EC2_INSTANCE =
  budgets.launch + EC2_WAITS.instanceRunning + EC2_WAITS.instanceTerminated + EC2_WAITS.securityGroupDelete;
/** The longest test is a whole passing run: the instance bake and the test instance, both through EC2. */
const RUN_TIMEOUT = {
  timeout: timeoutFor(
    budgets.build,
    // Bake: the builder answers SSH, installs, stops and becomes an image.
    EC2_INSTANCE,
    ovenproofDeadlines.builderSshReady,
    budgets.aptInVm,
    EC2_WAITS.instanceStopped,
    EC2_WAITS.imageAvailable,
    EC2_WAITS.snapshotCompleted,
    // Test: the instance answers SSH, runs the suite and returns the results.
    EC2_INSTANCE,
    ovenproofDeadlines.pipelineSshReady,
    ovenproofDeadlines.helloDebTestStage,
    ovenproofDeadlines.resultReconnect,
    budgets.teardown,
  ),
};

const local = localTestProvider();
let localCtx: RunContext;
let base: ImageManifest;
let gh: FakeGitHub;
let eventPath: string;
const endpoints: Ec2Endpoint[] = [];
/** Which local image boots when RunInstances names an AMI. */
const amiToLocal = new Map<string, string>();
/** Local images saved by CreateImage hooks; removed after the suite. */
const savedImages: string[] = [];
/** The image the passing run baked and kept, re-seeded into later scenarios as a bake cache hit. */
let baked: { id: string; name: string; tags: Record<string, string> } | null = null;

beforeAll(async () => {
  base = await ensureBaseImage();
  amiToLocal.set(DEBIAN_AMI, base.id);
  const dir = await mkdtemp(join(tmpdir(), 'ovenproof-ec2-e2e-'));
  localCtx = {
    runId: 'ec2-e2e-vms',
    expiresAt: new Date(Date.now() + 3600_000),
    journal: await Ledger.create(join(dir, 'ledger.json'), 'ec2-e2e-vms'),
    signal: new AbortController().signal,
    log: { info: () => undefined, warn: () => undefined, debug: () => undefined, mask: () => undefined },
    progress: () => undefined,
    tags: {},
  };
  gh = await startFakeGitHub();
  const push = definitions
    .find((d) => d.name === 'push')!
    .examples.find((p) => String(p.ref).startsWith('refs/heads/'))!;
  eventPath = join(dir, 'push.json');
  await writeFile(eventPath, JSON.stringify(push));
}, timeoutFor(budgets.baseImage));

afterAll(async () => {
  for (const ec2 of endpoints) await ec2.close();
  for (const id of savedImages) await local.deregisterImage(localCtx, id).catch(() => undefined);
  await gh?.close();
}, timeoutFor(budgets.teardown));

interface Scenario {
  ec2: Ec2Endpoint;
  sshPort: number;
  /** Local instance ids of the VMs behind this scenario's EC2 instances. */
  vms: string[];
}

/** A real local VM behind each EC2 instance: identity from the user data, image mapped from the AMI. */
function vmHook(vms: string[]) {
  return async ({ imageId, userData }: VmHookInput): Promise<VmHookResult> => {
    const localImage = amiToLocal.get(imageId);
    if (!localImage) throw new Error(`no local image behind ${imageId}`);
    const parsed = parseUserData(userData);
    const info = await local
      .launch(localCtx, {
        imageId: localImage,
        purpose: 'test',
        identity: {
          hostname: parsed.hostname!,
          authorizedKey: parsed.authorizedKeys[0]!,
          hostKeyPrivate: parsed.hostKeyPrivate!,
          hostKeyPublic: parsed.hostKeyPublic!,
        },
        ttlMs: (parsed.shutdownMinutes ?? 30) * 60_000,
        sshUser: 'root',
      })
      .catch((error: unknown) => {
        // The endpoint turns this into a 500 that the SDK retries: say here why the VM is missing.
        process.stderr.write(`[ec2-e2e] no VM behind ${imageId}: ${(error as Error).message}\n`);
        throw error;
      });
    vms.push(info.id);
    return {
      port: info.port,
      stop: () => local.terminate(localCtx, info.id),
      // An empty console (the guest never printed) says more with QEMU's own log beside it.
      consoleOutput: async () =>
        (await local.consoleOutput(info.id)) ||
        `(console empty) qemu.log: ${await readFile(instanceFiles(local.paths, info.id).qemuLog, 'utf8').catch((e: Error) => e.message)}`,
      powerOff: () => local.stopInstance(localCtx, info.id),
      createImage: async (ami) => {
        const image = await local.createImageFromInstance(localCtx, info.id, {
          // A name no base-image query of another suite matches.
          name: `ovenproof-ec2-e2e-${ami}`,
          os: base.os,
          arch: base.arch,
          parent: localImage,
          packages: {},
          bakeKey: null,
          tags: { 'ovenproof-e2e:ami': ami },
        });
        savedImages.push(image.id);
        amiToLocal.set(ami, image.id);
      },
    };
  };
}

async function scenario(
  options: {
    vms?: boolean;
    cacheHit?: boolean;
    hook?: (input: VmHookInput) => Promise<VmHookResult>;
  } = {},
): Promise<Scenario> {
  const sshPort = 20_000 + Math.floor(Math.random() * 20_000);
  const vms: string[] = [];
  const hook = options.hook ?? (options.vms ? vmHook(vms) : undefined);
  const ec2 = await startEc2Endpoint({
    transitionMs: 50,
    sshPort,
    ...(hook ? { onRunInstances: hook } : {}),
  });
  endpoints.push(ec2);
  ec2.seedImage(REGION, { id: DEBIAN_AMI, name: 'debian-12-amd64-20260101-1' });
  if (options.cacheHit) {
    if (!baked) throw new Error('the passing run did not leave a kept image to reuse (see the first test)');
    ec2.seedImage(REGION, { id: baked.id, name: baked.name, owner: ACCOUNT_ID, tags: baked.tags });
  }
  return { ec2, sshPort, vms };
}

interface ActionRun {
  main: { code: number | null; signal: string | null; stdout: string };
  post: { code: number | null; stdout: string } | null;
  outputs: Record<string, string>;
  state: Record<string, string>;
  summary: string;
}

function ec2Env(s: Scenario): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: s.ec2.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s.ec2.credentials.secretAccessKey,
    AWS_REGION: REGION,
    // The SDK's credential chain must never reach for 169.254.169.254.
    AWS_EC2_METADATA_DISABLED: 'true',
    OVENPROOF_EC2_SETTINGS: JSON.stringify({
      endpoint: s.ec2.url,
      // Nothing may leave 127.0.0.0/8: a closed loopback port stands in for IMDS (so: not on EC2,
      // bake-strategy auto picks the instance bake).
      imdsEndpoint: 'http://127.0.0.1:9',
      imdsTimeoutMs: 300,
      sshPort: s.sshPort,
      pollIntervalMs: 250,
      consistencyTimeoutMs: 20_000,
      waitTimeoutsMs: EC2_WAITS,
    }),
  };
}

function action(
  s: Scenario,
  inputs: Record<string, string>,
  extra: { post?: boolean; onMainSpawn?: (child: ChildProcess) => void } = {},
): Promise<ActionRun> {
  return runAction({
    inputs: {
      'github-token': 'ghs_e2etoken',
      provider: 'ec2',
      region: REGION,
      // Always given: the runner's public-address lookup must never run in tests.
      'ssh-cidr': '127.0.0.0/8',
      ...inputs,
    },
    eventName: 'push',
    eventPath,
    workspace,
    env: {
      GITHUB_API_URL: gh.url,
      GITHUB_SHA: SHA,
      GITHUB_REPOSITORY: 'octo-org/hello-deb',
      GITHUB_RUN_ID: '77',
      ...ec2Env(s),
    },
    ...extra,
  }) as Promise<ActionRun>;
}

/** Kills main with SIGKILL once `when(stdout so far)` holds, after `delayMs`. */
function killWhen(
  when: (stdout: string) => boolean,
  delayMs = 0,
): { onMainSpawn: (child: ChildProcess) => void; killed: () => boolean } {
  let killed = false;
  return {
    killed: () => killed,
    onMainSpawn: (child) => {
      let out = '';
      child.stdout?.on('data', (data: Buffer) => {
        out += data.toString();
        if (!killed && when(out)) {
          killed = true;
          setTimeout(() => child.kill('SIGKILL'), delayMs);
        }
      });
    },
  };
}

/** Kills main with SIGKILL as soon as the endpoint has received `action` (polled). */
function killAfterRequest(ec2: Ec2Endpoint, wanted: string, settleMs = 300) {
  let killed = false;
  return {
    killed: () => killed,
    onMainSpawn: (child: ChildProcess) => {
      const timer = setInterval(() => {
        if (!ec2.requests.some((r) => r.action === wanted && r.status === 200 && !r.dryRun)) return;
        clearInterval(timer);
        killed = true;
        setTimeout(() => child.kill('SIGKILL'), settleMs);
      }, 50);
      child.on('exit', () => clearInterval(timer));
    },
  };
}

/** Resources the endpoint still holds for ovenproof, apart from a kept image and its snapshot. */
function liveExceptKept(ec2: Ec2Endpoint) {
  return ec2.live({ ovenproofOnly: true }).filter((r) => r.tags['ovenproof:kept'] !== 'true');
}

function qemuProcesses(localIds: string[]): string[] {
  const out = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes('qemu-system') && localIds.some((id) => line.includes(id)));
}

function instanceDirGone(localId: string): boolean {
  const home = process.env.OVENPROOF_HOME ?? join(process.env.HOME!, '.cache', 'ovenproof');
  return !existsSync(join(home, 'instances', localId));
}

async function ledgerOf(run: ActionRun): Promise<Ledger> {
  expect(run.state.ledgerPath, 'the main step saved its ledger path').toBeTruthy();
  return Ledger.open(run.state.ledgerPath!);
}

/** After a kill and the post step: nothing live in the ledger, at the endpoint, or as a VM. */
async function expectAllCleanedUp(s: Scenario, run: ActionRun): Promise<void> {
  expect(run.main.code, 'main was killed').toBeNull();
  expect(run.main.signal).toBe('SIGKILL');
  expect(run.post?.code, run.post?.stdout).toBe(0);
  expect((await ledgerOf(run)).live()).toEqual([]);
  expect(liveExceptKept(s.ec2)).toEqual([]);
  expect(qemuProcesses(s.vms)).toEqual([]);
  for (const id of s.vms) expect(instanceDirGone(id), `local instance ${id} removed`).toBe(true);
}

function sweep(s: Scenario): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      ['dist/cli.js', 'sweep', '--provider', 'ec2', '--region', REGION, '--json'],
      { env: { ...process.env, ...ec2Env(s) }, encoding: 'utf8' },
      (error, stdout, stderr) =>
        resolvePromise({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('the Action on provider ec2 against the EC2 endpoint, with real VMs (QEMU)', RUN_TIMEOUT, () => {
  it('(QEMU) a passing run: instance bake and test instance through EC2, bats over SSH, everything torn down, image kept', async () => {
    const s = await scenario({ vms: true });
    const run = await action(s, {});
    expect(run.main.code, run.main.stdout).toBe(0);
    expect(run.post?.code, run.post?.stdout).toBe(0);
    const result = JSON.parse(await readFile(run.outputs['result-json']!, 'utf8')) as RunResult;
    expect(result.provider).toBe('ec2');
    expect(result.status).toBe('passed');
    expect(result.image).toMatchObject({ baseImageId: DEBIAN_AMI, cacheHit: false, kept: true });

    // The bats suite ran inside the VM: its JUnit file came back over SSH with every test.
    expect(result.tests).toMatchObject({ total: 12, passed: 12, failed: 0 });
    const check = gh.checkRuns.at(-1)!;
    expect(check.head_sha).toBe(SHA);
    expect(check.conclusion).toBe('success');

    // Two EC2 instances (the builder and the test instance), each a real VM, each with its own
    // temporary security group; all terminated, all groups deleted, the VMs gone.
    const launches = s.ec2.requests.filter((r) => r.action === 'RunInstances' && r.status === 200);
    expect(launches.map((r) => r.params.ImageId)).toEqual([DEBIAN_AMI, result.image!.id]);
    for (const launch of launches) {
      expect(launch.params.ClientToken).toMatch(/^op-/);
      expect(launch.params['MetadataOptions.HttpTokens']).toBe('required');
      expect(launch.params.InstanceInitiatedShutdownBehavior).toBe('terminate');
    }
    expect(s.vms).toHaveLength(2);
    const instances = [...s.ec2.region(REGION).instances.values()];
    expect(instances.map((i) => i.state)).toEqual(['terminated', 'terminated']);
    expect(s.ec2.region(REGION).groups.size).toBe(0);
    expect(qemuProcesses(s.vms)).toEqual([]);
    expect(s.ec2.requests.some((r) => r.action === 'StopInstances' && r.status === 200)).toBe(true);

    // The image is kept, without an expiry, and is the only ovenproof resource left (with its snapshot).
    const image = s.ec2.region(REGION).images.get(result.image!.id)!;
    const tags = Object.fromEntries(image.tags);
    expect(tags['ovenproof:kept']).toBe('true');
    expect(tags['ovenproof:tested']).toBe('passed');
    expect(tags['ovenproof:expires-at']).toBeUndefined();
    expect(tags['ovenproof:bake-key']).toBe(result.image!.bakeKey);
    expect(liveExceptKept(s.ec2)).toEqual([]);
    expect(
      s.ec2
        .live({ ovenproofOnly: true })
        .map((r) => r.kind)
        .sort(),
    ).toEqual(['image', 'snapshot']);
    expect((await ledgerOf(run)).live()).toEqual([]);
    baked = { id: image.id, name: image.name, tags };
  });

  it('SIGKILL in the build stage, then post: nothing was created, nothing is live', async () => {
    const s = await scenario();
    const kill = killWhen((out) => out.includes('::group::Build'), 1_000);
    const run = await action(s, { build: './build.sh && sleep 120' }, kill);
    expect(kill.killed()).toBe(true);
    await expectAllCleanedUp(s, run);
    expect(s.ec2.requests.filter((r) => r.action === 'RunInstances')).toEqual([]);
  });

  it('SIGKILL in the bake stage while the builder boots, then post: builder and its security group deleted', async () => {
    // No VM behind the builder: the bake waits for its SSH, which never answers.
    const s = await scenario();
    const kill = killWhen((out) => out.includes('Waiting for SSH'), 500);
    const run = await action(s, {}, kill);
    expect(kill.killed()).toBe(true);
    // The builder was launched from the Debian base (no cache hit), and then nothing else.
    const launches = s.ec2.requests.filter((r) => r.action === 'RunInstances' && r.status === 200);
    expect(launches.map((r) => r.params.ImageId)).toEqual([DEBIAN_AMI]);
    expect(s.ec2.requests.some((r) => r.action === 'CreateImage')).toBe(false);
    expect(run.post!.stdout).toMatch(/still live after the main step/);
    await expectAllCleanedUp(s, run);
    expect([...s.ec2.region(REGION).instances.values()].map((i) => i.state)).toEqual(['terminated']);
    expect(s.ec2.region(REGION).groups.size).toBe(0);
  });

  it('SIGKILL in the launch stage before RunInstances answers, then post: the instance is found by its ClientToken and terminated', async () => {
    // RunInstances is held open: the instance exists at the endpoint, the ledger has only the intent.
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const s = await scenario({
      cacheHit: true,
      hook: async () => {
        await held;
        // No VM: the answer goes to a killed process anyway.
        return { port: 9, stop: async () => undefined };
      },
    });
    let killed = false;
    const run = await action(
      s,
      {},
      {
        onMainSpawn: (child) => {
          const timer = setInterval(() => {
            if (!s.ec2.requests.some((r) => r.action === 'RunInstances' && !r.dryRun)) return;
            clearInterval(timer);
            killed = true;
            setTimeout(() => {
              child.kill('SIGKILL');
              release();
            }, 300);
          }, 50);
          child.on('exit', () => clearInterval(timer));
        },
      },
    );
    expect(killed).toBe(true);
    const ledger = await ledgerOf(run);
    const instanceEntry = ledger.entries().find((e) => e.kind === 'instance')!;
    expect(instanceEntry.data.clientToken).toBeTruthy();
    await expectAllCleanedUp(s, run);
    const instances = [...s.ec2.region(REGION).instances.values()];
    expect(instances).toHaveLength(1);
    // The main step never learned the id; the post step found it by its ClientToken and recorded it.
    expect((await ledgerOf(run)).entries().find((e) => e.kind === 'instance')!.id).toBe(instances[0]!.id);
    expect(instances[0]!.clientToken).toBe(instanceEntry.data.clientToken);
    expect(instances[0]!.state).toBe('terminated');
    // The reused image is untouched.
    expect(s.ec2.region(REGION).images.has(baked!.id)).toBe(true);
  });

  it('(QEMU) SIGKILL in the test stage while the suite runs in the VM, then post: instance, group and VM gone', async () => {
    const s = await scenario({ vms: true, cacheHit: true });
    const kill = killWhen((out) => out.includes('ovenproof-e2e-suite-started'), 1_000);
    const run = await action(s, { test: 'echo ovenproof-e2e-suite-started; sleep 300' }, kill);
    expect(kill.killed()).toBe(true);
    expect(s.vms).toHaveLength(1);
    await expectAllCleanedUp(s, run);
    expect([...s.ec2.region(REGION).instances.values()].map((i) => i.state)).toEqual(['terminated']);
    expect(s.ec2.region(REGION).groups.size).toBe(0);
  });

  it('(QEMU) SIGKILL as the report stage starts (it takes milliseconds: the kill lands in report or teardown), then post', async () => {
    const s = await scenario({ vms: true, cacheHit: true });
    const kill = killWhen((out) => out.includes('::group::Report'));
    const run = await action(s, {}, kill);
    expect(kill.killed()).toBe(true);
    expect(s.vms).toHaveLength(1);
    expect(run.post!.stdout).toMatch(/still live after the main step|already cleaned up/);
    await expectAllCleanedUp(s, run);
    expect([...s.ec2.region(REGION).instances.values()].map((i) => i.state)).toEqual(['terminated']);
  });

  it("(QEMU) the builder's image fails while ovenproof waits for it: the bake deletes it and closes every entry itself", async () => {
    // A real builder (SSH, apt, clean power-off); saving its disk as the image fails.
    const vms: string[] = [];
    const withVm = vmHook(vms);
    const s = await scenario({
      hook: async (input) => ({
        ...(await withVm(input)),
        createImage: () => Promise.reject(new Error('no space left in the snapshot store (injected)')),
      }),
    });
    const run = await action(s, {});
    expect(run.main.code, run.main.stdout).toBe(2);
    expect(run.main.stdout).toMatch(
      /waiting for image ami-\w+ to become available \(ec2:DescribeImages\) failed: it reached a state it cannot leave \(state failed: saving the instance disk failed: no space left in the snapshot store \(injected\)\)/,
    );
    // The failed image went with the bake's own cleanup, not with the run's safety net.
    expect(s.ec2.requests.some((r) => r.action === 'StopInstances' && r.status === 200)).toBe(true);
    expect(s.ec2.requests.some((r) => r.action === 'DeregisterImage' && r.status === 200)).toBe(true);
    expect(run.main.stdout).not.toMatch(/still live after the steps' cleanups/);
    expect(run.post?.code, run.post?.stdout).toBe(0);
    expect(run.post?.stdout).toMatch(/already cleaned up/);
    expect((await ledgerOf(run)).live()).toEqual([]);
    expect(s.ec2.live()).toEqual([]);
    expect(vms).toHaveLength(1);
    expect(qemuProcesses(vms)).toEqual([]);
    expect(instanceDirGone(vms[0]!)).toBe(true);
  });

  it('a lost ledger: SIGKILL without post, then `ovenproof sweep --provider ec2` removes the run once it is past its expiry', async () => {
    const s = await scenario({ cacheHit: true });
    const untagged = s.ec2.seedInstance(REGION, {});
    const kill = killAfterRequest(s.ec2, 'RunInstances');
    // Killed right after the test instance was launched (it has no VM: SSH would never answer).
    const run = await action(s, { ttl: LOST_RUN_TTL }, { ...kill, post: false });
    expect(kill.killed()).toBe(true);
    expect(run.post).toBeNull();
    const leaked = liveExceptKept(s.ec2);
    expect(leaked.map((r) => r.kind).sort()).toEqual(['instance', 'security-group', 'volume']);

    // Not expired yet: sweep leaves everything alone.
    const early = await sweep(s);
    expect(early.code, early.stderr).toBe(0);
    expect(JSON.parse(early.stdout)).toEqual([]);
    expect(liveExceptKept(s.ec2)).toEqual(leaked);

    s.ec2.advanceClock(EXPIRY_AFTER_MS + 60_000);
    const late = await sweep(s);
    expect(late.code, late.stderr).toBe(0);
    const swept = JSON.parse(late.stdout) as Array<{ kind: string; id: string; deleted: boolean }>;
    expect(swept.every((r) => r.deleted)).toBe(true);
    expect(swept.map((r) => r.kind).sort()).toEqual(['instance', 'security-group']);
    expect(liveExceptKept(s.ec2)).toEqual([]);
    // Untagged resources and the kept image stay.
    expect(s.ec2.live({ ovenproofOnly: false }).map((r) => r.id)).toEqual(
      expect.arrayContaining([untagged, baked!.id, DEBIAN_AMI]),
    );
  });
});
