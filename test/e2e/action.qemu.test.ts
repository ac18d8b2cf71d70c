/**
 * The Action end to end, as GitHub runs it: `node dist/index.js` then `node dist/post.js` as real
 * processes, inputs as INPUT_* variables, a real webhook payload, the OpenAPI-validating fake GitHub
 * API, and the local provider booting real QEMU VMs for examples/hello-deb.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { startFakeGitHub, type FakeGitHub } from '../support/github-api.js';
import { ensureBaseImage } from '../support/local-base.js';
import { HELLO_DEB_RUN, budgets, timeoutFor } from '../support/timeouts.js';
import { Ledger } from '../../src/pipeline/ledger.js';
import type { RunResult } from '../../src/common/run-result.js';
// @ts-expect-error: plain ESM script without type declarations
import { runAction } from '../../script/run-action.mjs';

const require = createRequire(import.meta.url);
const definitions = require('@octokit/webhooks-examples') as Array<{
  name: string;
  examples: Array<Record<string, unknown>>;
}>;
const workspace = resolve('examples/hello-deb');
const SHA = 'b1a5e7c0ffee0ddba11cafe0123456789abcdef0';

let gh: FakeGitHub;
let eventPath: string;

beforeAll(async () => {
  await ensureBaseImage();
  gh = await startFakeGitHub();
  const push = definitions
    .find((d) => d.name === 'push')!
    .examples.find((p) => String(p.ref).startsWith('refs/heads/'))!;
  eventPath = join(await mkdtemp(join(tmpdir(), 'ovenproof-e2e-')), 'push.json');
  await writeFile(eventPath, JSON.stringify(push));
}, timeoutFor(budgets.baseImage));

afterAll(async () => {
  await gh?.close();
}, timeoutFor());

/** Ledgers of runs that keep their instance: swept after each test even when it failed half-way. */
const keptLedgers: string[] = [];
afterEach(() => {
  for (const ledger of keptLedgers.splice(0))
    spawnSync(process.execPath, ['dist/cli.js', 'sweep', '--ledger', ledger, '--kept'], { stdio: 'ignore' });
}, timeoutFor(budgets.teardown));

interface ActionRun {
  main: { code: number | null; stdout: string };
  post: { code: number | null; stdout: string } | null;
  outputs: Record<string, string>;
  state: Record<string, string>;
  summary: string;
}

function action(
  inputs: Record<string, string>,
  extra: Partial<Parameters<typeof runAction>[0]> = {},
): Promise<ActionRun> {
  return runAction({
    inputs: { 'github-token': 'ghs_e2etoken', ...inputs },
    eventName: 'push',
    eventPath,
    workspace,
    env: {
      GITHUB_API_URL: gh.url,
      GITHUB_SHA: SHA,
      GITHUB_REPOSITORY: 'octo-org/hello-deb',
      GITHUB_RUN_ID: '42',
    },
    ...extra,
  });
}

async function resultOf(run: ActionRun): Promise<RunResult> {
  return JSON.parse(await readFile(run.outputs['result-json']!, 'utf8')) as RunResult;
}

function qemuProcessesFor(instanceId: string): string[] {
  const out = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.includes('qemu-system') && line.includes(instanceId));
}

/** The longest test: a run of hello-deb (main and post), then SSH into the kept instance and a sweep. */
const ACTION_RUN_AND_SSH = timeoutFor(HELLO_DEB_RUN, budgets.sshCommands, budgets.teardown);

describe('the Action on the local provider (QEMU)', { timeout: ACTION_RUN_AND_SSH }, () => {
  it('(QEMU) a passing suite: exit 0, check run success on the push SHA, image kept and tagged', async () => {
    const run = await action({});
    const result = await resultOf(run);
    expect(run.main.code, JSON.stringify(result.error)).toBe(0);
    expect(run.post?.code).toBe(0);
    expect(result.status).toBe('passed');
    expect(result.tests.total).toBe(12);
    expect(run.outputs['tests-failed']).toBe('0');
    expect(run.outputs['image-id']).toBe(result.image!.id);
    const check = gh.checkRuns.at(-1)!;
    expect(check.head_sha).toBe(SHA);
    expect(check.conclusion).toBe('success');
    expect(check.summaries.length).toBeGreaterThan(1);
    expect(run.outputs['check-run-url']).toBe(check.html_url);
    // The image stays, tagged as kept (a cache hit reuses an image an earlier run kept and tagged).
    expect(result.image!.kept).toBe(true);
    const images = JSON.parse(
      execFileSync(process.execPath, ['dist/cli.js', 'images', '--provider', 'local', '--json'], {
        encoding: 'utf8',
      }),
    ) as Array<{ id: string; tags: Record<string, string> }>;
    const image = images.find((i) => i.id === result.image!.id)!;
    expect(image.tags['ovenproof:kept']).toBe('true');
    expect(run.summary).toContain('```mermaid');
  });

  it('(QEMU) one failing test: exit 1, an annotation on the bats file and line, listed in the result JSON; keep-instance leaves a reachable VM', async () => {
    const run = await action({
      test: 'HELLO_DEB_FAIL=1 /usr/share/hello-deb/run-tests',
      'keep-instance': 'on-failure',
    });
    if (run.state.ledgerPath) keptLedgers.push(run.state.ledgerPath);
    const result = await resultOf(run);
    expect(run.main.code, JSON.stringify(result.error)).toBe(1);
    expect(result.status).toBe('failed');
    expect(result.tests.failed).toBe(1);
    expect(result.tests.failures[0]).toMatchObject({
      name: 'greets a name given on the command line',
      file: 'examples/hello-deb/tests/greet.bats',
      line: 18,
    });
    const check = gh.checkRuns.at(-1)!;
    expect(check.conclusion).toBe('failure');
    expect(check.annotations).toHaveLength(1);
    expect(check.annotations[0]).toMatchObject({
      path: 'examples/hello-deb/tests/greet.bats',
      start_line: 18,
      annotation_level: 'failure',
    });
    expect(result.annotations).toBe(1);

    // keep-instance: on-failure: the post step leaves the VM up, and the printed command reaches it
    // with OpenSSH's strict host-key checking against the run's pinned key.
    expect(qemuProcessesFor(result.instance!.id).length).toBeGreaterThan(0);
    const ssh =
      /ssh -i (\S+) -o UserKnownHostsFile=(\S+) -o StrictHostKeyChecking=yes -p (\d+) (\S+)@(\S+?)(?:%0A|\s|$)/.exec(
        run.main.stdout,
      );
    expect(ssh, 'the log prints how to reach the kept instance').not.toBeNull();
    const [, key, knownHosts, port, user, host] = ssh!;
    const hostname = execFileSync(
      'ssh',
      [
        '-i',
        key!,
        '-o',
        `UserKnownHostsFile=${knownHosts}`,
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        'BatchMode=yes',
        '-p',
        port!,
        `${user}@${host}`,
        'hostname',
      ],
      { encoding: 'utf8' },
    );
    expect(hostname.trim()).toMatch(/^ovenproof-/);
    const sweep = spawnSync(
      process.execPath,
      ['dist/cli.js', 'sweep', '--ledger', run.state.ledgerPath!, '--kept'],
      {
        encoding: 'utf8',
      },
    );
    expect(sweep.status, sweep.stderr).toBe(0);
    expect(qemuProcessesFor(result.instance!.id)).toEqual([]);
  });

  it('(QEMU) SIGKILL of the main step during the test stage: the post step removes the VM, overlay and temp files', async () => {
    let killed = false;
    const run = await action(
      { test: 'sleep 300' },
      {
        onMainSpawn: (child: import('node:child_process').ChildProcess) => {
          child.stdout?.on('data', (data: Buffer) => {
            // The test stage has started once the instance is up and its output group opens.
            if (!killed && data.toString().includes('::group::Test')) {
              killed = true;
              setTimeout(() => child.kill('SIGKILL'), 3_000);
            }
          });
        },
      },
    );
    expect(killed).toBe(true);
    expect(run.main.code).toBeNull();
    expect(run.post?.code, run.post?.stdout).toBe(0);
    const ledger = await Ledger.open(run.state.ledgerPath!);
    const instances = ledger.entries().filter((e) => e.kind === 'instance');
    expect(instances).toHaveLength(1);
    expect(ledger.live()).toEqual([]);
    const instanceId = instances[0]!.id!;
    expect(qemuProcessesFor(instanceId)).toEqual([]);
    const home = process.env.OVENPROOF_HOME ?? join(process.env.HOME!, '.cache', 'ovenproof');
    expect(existsSync(join(home, 'instances', instanceId))).toBe(false);
    expect(run.post!.stdout).toMatch(/still live after the main step/);
  });

  it('(QEMU) a failing build: check run failure with the build log as an annotation, nothing baked', async () => {
    const run = await action({
      build: 'echo compiling hello-deb; echo "hello.c:3: error: expected ;" >&2; exit 7',
    });
    expect(run.main.code).toBe(2);
    const result = await resultOf(run);
    expect(result.status).toBe('error');
    expect(result.error).toMatchObject({ stage: 'build' });
    expect(result.image).toBeNull();
    expect(result.stages.find((s) => s.name === 'bake')!.status).toBe('skipped');
    expect(result.resources).toEqual([]);
    const check = gh.checkRuns.at(-1)!;
    expect(check.conclusion).toBe('failure');
    const buildAnnotation = check.annotations.find((a) => a.message.includes('expected ;'));
    expect(buildAnnotation).toBeDefined();
  });
});
