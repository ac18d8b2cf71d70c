/**
 * A failing run of examples/hello-deb on the local provider, through the real CLI: the result JSON has a
 * failure image, `ovenproof reproduce --result-json` boots it with a new identity and shows the files the
 * failed test run wrote, the stage timings are truthful (the launch holds the boot, the test stage is the
 * test command and the fetch), nothing but the failure image is left, and sweep removes it after expiry.
 * Runs in a home of its own (the shared base image hard-linked in), so its sweep touches nothing else.
 */
import { execFile } from 'node:child_process';
import { copyFile, link, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureBaseImage } from '../support/local-base.js';
import { createLocalProvider, localPaths } from '../../src/providers/local/index.js';
import { ovenproofHome } from '../../src/common/host/home.js';
import type { RunResult } from '../../src/common/run-result.js';
import { silentLogger } from '../../src/common/log.js';
import { HELLO_DEB_RUN, VM_BOOT, budgets, timeoutFor } from '../support/timeouts.js';

let home: string | null = null;
afterAll(async () => {
  if (home) await rm(home, { recursive: true, force: true });
}, timeoutFor(budgets.teardown));

function cli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { env, encoding: 'utf8', maxBuffer: 64 << 20 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function privateHome(baseId: string): Promise<string> {
  const dir = await mkdtemp(join(homedir(), '.cache', 'ovenproof-failure-e2e-'));
  const from = join(localPaths(ovenproofHome(process.env)).images, baseId);
  const to = join(localPaths(dir).images, baseId);
  await mkdir(to, { recursive: true });
  for (const f of ['disk.raw', 'vmlinuz', 'initrd.img']) await link(join(from, f), join(to, f));
  await copyFile(join(from, 'manifest.json'), join(to, 'manifest.json'));
  return dir;
}

// The failing test run records its own identity and its own runtime (measured on the instance).
// The clock starts first thing, so the runtime covers everything the command itself does.
const TEST = [
  's=$(date +%s%N)',
  'hostname > /var/tmp/identity-before',
  'cat /etc/machine-id >> /var/tmp/identity-before',
  'cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub >> /var/tmp/identity-before',
  'HELLO_DEB_FAIL=1 /usr/share/hello-deb/run-tests',
  'rc=$?',
  'echo $(( ($(date +%s%N) - s) / 1000000 )) > /var/tmp/test-runtime-ms',
  'exit $rc',
].join('; ');

const IDENTITY_NOW = 'hostname; cat /etc/machine-id; cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub';

describe('failure snapshot of a failing run', () => {
  it(
    '(QEMU) hello-deb failing: failureImage, reproduce prints its JUnit XML with a new identity, truthful stages, sweep after expiry',
    async () => {
      const base = await ensureBaseImage();
      home = await privateHome(base.id);
      const env = { ...process.env, OVENPROOF_HOME: home };
      const out = await mkdtemp(join(tmpdir(), 'ovenproof-failure-e2e-'));
      const resultPath = join(out, 'r.json');

      const run = await cli(
        [
          'run',
          '--config',
          'examples/hello-deb/ovenproof.yml',
          '--set',
          `test=${TEST}`,
          // A cold boot: this test checks that the launch stage holds the whole boot.
          '--set',
          'warm-boot=never',
          '--result-json',
          resultPath,
        ],
        env,
      );
      expect(run.code, run.stderr).toBe(1);
      const result = JSON.parse(await readFile(resultPath, 'utf8')) as RunResult;
      expect(result.status).toBe('failed');
      expect(result.failureImage?.id).toMatch(/^img-/);
      expect(Date.parse(result.failureImage!.expiresAt) - Date.now()).toBeGreaterThan(
        3 * 86_400_000 - 3_600_000,
      );
      expect(result.cost).toMatchObject({ estimatedUsd: null });
      expect(result.cost!.instanceSeconds.local).toBeGreaterThan(0);

      const stage = (name: string) => result.stages.find((s) => s.name === name)!;
      expect(stage('launch').steps?.map((s) => s.name)).toEqual(['request', 'boot', 'ssh']);
      const boot = stage('launch').steps!.find((s) => s.name === 'boot')!;
      expect(stage('test').steps?.map((s) => s.name)).toEqual(['command', 'results']);
      expect(stage('teardown').steps?.map((s) => s.name)).toEqual(
        expect.arrayContaining(['failure snapshot', `terminate instance ${result.instance!.id}`]),
      );
      expect(run.stderr).toContain('ovenproof reproduce --result-json');

      const repro = await cli(
        [
          'reproduce',
          '--result-json',
          resultPath,
          '--',
          `cat /var/tmp/hello-deb/results/*.xml; echo; echo ---; cat /var/tmp/test-runtime-ms /var/tmp/identity-before; echo ---; ${IDENTITY_NOW}`,
        ],
        env,
      );
      expect(repro.code, repro.stderr).toBe(0);
      const [xml, recorded, now] = repro.stdout.split('\n---\n');
      // The JUnit XML the failed run wrote on its instance, naming the tests the result JSON reports failed.
      expect(xml).toMatch(/<testsuites?[\s>]/);
      for (const failure of result.tests.failures)
        expect(xml).toContain(failure.name.replace(/&/g, '&amp;').replace(/"/g, '&quot;'));
      const [runtimeMs, hostBefore, machineBefore, keyBefore] = recorded!.trim().split('\n');
      const [hostNow, machineNow, keyNow] = now!.trim().split('\n');
      expect(hostBefore).toMatch(/^ovenproof-op-/);
      expect(hostNow).not.toBe(hostBefore);
      expect(machineNow).toMatch(/^[0-9a-f]{32}$/);
      expect(machineNow).not.toBe(machineBefore);
      expect(keyNow).not.toBe(keyBefore);

      // The test stage is the test command plus the fetch: within 2 s of the command's own runtime.
      const testStageMs = stage('test').durationMs;
      process.stderr.write(
        `[failure-e2e] launch ${stage('launch').durationMs} ms (boot ${boot.durationMs} ms), test stage ${testStageMs} ms ` +
          `(${JSON.stringify(stage('test').steps)}), command on the instance ${runtimeMs} ms\n`,
      );
      // The stage is the command (as ovenproof's SSH exec sees it) plus a fetch of at most 2 s, and it
      // holds no boot: its excess over the command's runtime on the instance is far below the boot. (On a
      // loaded TCG host that excess is the guest's per-process cost of starting the command over SSH.)
      const command = stage('test').steps!.find((s) => s.name === 'command')!;
      expect(testStageMs - command.durationMs).toBeLessThanOrEqual(2000);
      expect(testStageMs).toBeGreaterThanOrEqual(Number(runtimeMs));
      expect(testStageMs - Number(runtimeMs)).toBeLessThan(boot.durationMs);

      // No instance is left; the images are the base, the failed run's bake (cached, unpromoted) and the
      // failure image. Sweep removes the failure image once it has expired, and nothing else.
      const paths = localPaths(home);
      expect(await readdir(paths.instances).catch(() => [])).toEqual([]);
      const provider = createLocalProvider({ home });
      expect(result.image).toMatchObject({ promoted: false });
      expect((await provider.listImages()).map((i) => i.id).sort()).toEqual(
        [base.id, result.image!.id, result.failureImage!.id].sort(),
      );
      await provider.store.tag(result.failureImage!.id, {
        'ovenproof:expires-at': new Date(Date.now() - 1000).toISOString(),
      });
      const swept = await provider.sweep({ dryRun: false }, silentLogger);
      expect(swept.filter((r) => r.deleted).map((r) => r.id)).toContain(result.failureImage!.id);
      expect((await provider.listImages()).map((i) => i.id).sort()).toEqual(
        [base.id, result.image!.id].sort(),
      );
    },
    timeoutFor(HELLO_DEB_RUN, budgets.diskCopy, VM_BOOT, budgets.sshCommands, budgets.teardown),
  );
});
