/**
 * Warm boot through the Action (main and post as real processes, from src/ via tsx) on
 * examples/hello-deb with real QEMU VMs: the suite passes on a restored instance and on a cold one,
 * and a main step killed with SIGKILL in the middle of a restore leaves nothing behind once the post
 * step has run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { ensureBaseImage } from '../support/local-base.js';
import { startFakeGitHub, type FakeGitHub } from '../support/github-api.js';
import { Ledger } from '../../src/pipeline/ledger.js';
import type { RunResult } from '../../src/common/run-result.js';
// @ts-expect-error: plain ESM script without type declarations
import { runAction } from '../../script/run-action.mjs';
import { HELLO_DEB_RUN, VM_BOOT, budgets, timeoutFor } from '../support/timeouts.js';

const workspace = resolve('examples/hello-deb');
const home = process.env.OVENPROOF_HOME ?? join(process.env.HOME!, '.cache', 'ovenproof');
let eventPath: string;
let gh: FakeGitHub;

interface ActionRun {
  main: { code: number | null; stdout: string };
  post: { code: number | null; stdout: string } | null;
  outputs: Record<string, string>;
  state: Record<string, string>;
}

beforeAll(async () => {
  await ensureBaseImage();
  gh = await startFakeGitHub();
  eventPath = join(await mkdtemp(join(tmpdir(), 'ovenproof-warm-e2e-')), 'dispatch.json');
  await writeFile(eventPath, JSON.stringify({ inputs: {}, ref: 'refs/heads/main' }));
}, timeoutFor(budgets.baseImage));

afterAll(async () => {
  await gh?.close();
}, timeoutFor(budgets.teardown));

function action(
  inputs: Record<string, string>,
  onMainSpawn?: (child: ChildProcess) => void,
): Promise<ActionRun> {
  return runAction({
    inputs: { 'github-token': 'ghs_warmtoken', provider: 'local', ...inputs },
    eventName: 'workflow_dispatch',
    eventPath,
    workspace,
    env: {
      GITHUB_API_URL: gh.url,
      GITHUB_SHA: 'b1a5e7c0ffee0ddba11cafe0123456789abcdef0',
      GITHUB_REPOSITORY: 'octo-org/hello-deb',
      GITHUB_RUN_ID: '43',
    },
    onMainSpawn,
    onStderr: (t: string) => process.stderr.write(t),
  }) as Promise<ActionRun>;
}

async function resultOf(run: ActionRun): Promise<RunResult> {
  return JSON.parse(await readFile(run.outputs['result-json']!, 'utf8')) as RunResult;
}

/** Processes whose command line mentions `text` (QEMU and its `cat` of the saved state included). */
async function processesMentioning(text: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    if (args.includes(text)) found.push(`${pid} ${args}`);
  }
  return found;
}

describe('warm boot through the Action (QEMU)', () => {
  it(
    '(QEMU) hello-deb passes with warm-boot: never (a cold boot) and auto (a restored instance, the snapshot made at the second launch)',
    async () => {
      const launchSteps = (r: RunResult) =>
        r.stages.find((st) => st.name === 'launch')?.steps?.map((st) => st.name);
      // First a cold boot: whether or not an earlier test launched this image here, this run does, so
      // the next warm launch restores (making the snapshot first when there is none yet).
      const cold = await action({ 'warm-boot': 'never' });
      expect(cold.main.code, cold.main.stdout.slice(-3000)).toBe(0);
      const coldResult = await resultOf(cold);
      expect(coldResult.status).toBe('passed');
      expect(coldResult.tests.total).toBeGreaterThan(0);
      expect(coldResult.instance?.boot).toBe('cold');
      expect(launchSteps(coldResult)).toEqual(['request', 'boot', 'ssh']);

      const warm = await action({ 'warm-boot': 'auto' });
      expect(warm.main.code, warm.main.stdout.slice(-3000)).toBe(0);
      const warmResult = await resultOf(warm);
      expect(warmResult.status).toBe('passed');
      expect(warmResult.tests.total).toBe(coldResult.tests.total);
      expect(warmResult.instance?.boot).toBe('restored');
      expect(launchSteps(warmResult)).toEqual(['request', 'restore', 'identity', 'ssh']);
      expect(warm.main.stdout).not.toMatch(/warm boot failed|first launch of image/);
    },
    timeoutFor(HELLO_DEB_RUN, VM_BOOT, HELLO_DEB_RUN),
  );

  it(
    '(QEMU) SIGKILL of the main step during a restore: the post step leaves no QEMU and nothing live',
    async () => {
      let restoring: string | null = null;
      const run = await action({ 'warm-boot': 'auto' }, (child) => {
        const watch = setInterval(() => {
          void processesMentioning('-incoming').then(async (found) => {
            // A restore of this main step: other test files may restore instances of their own.
            const ours = await Promise.all(
              found.map(async (line) => {
                const id = new RegExp(`${home}/instances/([^/ ]+)/`).exec(line)?.[1];
                if (!line.includes('qemu-system') || !id) return null;
                const record = await readFile(join(home, 'instances', id, 'instance.json'), 'utf8').catch(
                  () => '{}',
                );
                return (JSON.parse(record) as { owner?: { pid?: number } }).owner?.pid === child.pid
                  ? line
                  : null;
              }),
            );
            const qemu = ours.find((line) => line !== null);
            if (qemu && !restoring) {
              restoring = qemu;
              clearInterval(watch);
              child.kill('SIGKILL');
            }
          });
        }, 50);
        child.on('exit', () => clearInterval(watch));
      });
      expect(restoring, 'the main step never reached a restore').not.toBeNull();
      expect(run.main.code).toBeNull();
      expect(run.post?.code, run.post?.stdout).toBe(0);
      const ledger = await Ledger.open(run.state.ledgerPath!);
      const instances = ledger.entries().filter((e) => e.kind === 'instance');
      expect(instances).toHaveLength(1);
      expect(ledger.live()).toEqual([]);
      const instanceId = instances[0]!.id ?? instances[0]!.data.id!;
      expect(await processesMentioning(`${home}/instances/${instanceId}`)).toEqual([]);
      expect(existsSync(join(home, 'instances', instanceId))).toBe(false);
    },
    timeoutFor(HELLO_DEB_RUN, budgets.teardown),
  );
});
