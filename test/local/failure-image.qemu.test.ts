/**
 * Failure images on the local provider with real VMs: the capture of a running instance, `ovenproof
 * reproduce` booting it with a new identity (one command, and an interactive shell under a real PTY from
 * script(1)), nothing left running afterwards, and sweep retiring the image after its expiry.
 */
import { spawn } from 'node:child_process';
import { copyFile, link, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureBaseImage } from '../support/local-base.js';
import { createLocalProvider, localPaths, type LocalProvider } from '../../src/providers/local/index.js';
import { ovenproofHome } from '../../src/common/host/home.js';
import { listQemu, testContext, testIdentity } from './helpers.js';
import { waitForSsh, type SshSession } from '../../src/ssh/index.js';
import { reproduceCommand } from '../../src/cli/commands/reproduce.js';
import { runCommand } from '../support/cli-io.js';
import { silentLogger } from '../../src/common/log.js';
import { VM_BOOT, budgets, timeoutFor } from '../support/timeouts.js';

let provider: LocalProvider;

/**
 * A home of its own (the shared base image hard-linked into it, read-only), so that this test's sweep
 * acts on nothing but what the test made.
 */
async function privateHome(baseId: string): Promise<string> {
  const home = await mkdtemp(join(homedir(), '.cache', 'ovenproof-failure-test-'));
  const from = localPaths(ovenproofHome(process.env)).images;
  const to = join(localPaths(home).images, baseId);
  await mkdir(to, { recursive: true });
  for (const f of ['disk.raw', 'vmlinuz', 'initrd.img']) await link(join(from, baseId, f), join(to, f));
  await copyFile(join(from, baseId, 'manifest.json'), join(to, 'manifest.json'));
  return home;
}

afterAll(async () => {
  if (provider) await rm(provider.paths.home, { recursive: true, force: true });
}, timeoutFor(budgets.teardown));

async function run(session: SshSession, command: string): Promise<string> {
  let out = '';
  const result = await session.exec(command, { onStdout: (t) => (out += t), onStderr: (t) => (out += t) });
  expect(result.exitCode, `${command}\n${out}`).toBe(0);
  return out;
}

const IDENTITY = 'hostname; cat /etc/machine-id; cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub';

/** Instances of this provider's home that still have a directory or a QEMU process. */
async function liveInstances(ids: string[]): Promise<string[]> {
  const live: string[] = [];
  for (const id of ids) {
    const dir = await stat(`${provider.paths.instances}/${id}`).then(
      () => true,
      () => false,
    );
    if (dir || (await listQemu(`${provider.paths.instances}/${id}`)).length) live.push(id);
  }
  return live;
}

describe('local failure images', () => {
  it(
    '(QEMU) captures a running instance, reproduces it with a new identity for a command and under a PTY, and sweep retires it after expiry',
    async () => {
      const base = await ensureBaseImage();
      provider = createLocalProvider({ home: await privateHome(base.id) });
      const baseDisk = await stat(provider.store.files(base.id).disk);
      const { ctx, ledger } = await testContext();
      const a = testIdentity('failed-run');
      const info = await provider.launch(ctx, {
        imageId: base.id,
        purpose: 'test',
        identity: a.identity,
        ttlMs: 20 * 60_000,
        sshUser: 'root',
      });
      const session = await waitForSsh(
        {
          host: info.host,
          port: info.port,
          user: info.user,
          privateKey: a.clientPrivateKey,
          hostKeyPublic: info.hostKeyPublic,
          networkProbe: info.networkProbe,
        },
        { timeoutMs: 300_000, stage: 'launch' },
      );
      const marker = `written by the failed run ${ctx.runId}`;
      await run(
        session,
        `mkdir -p /var/tmp/results && echo '${marker}' > /var/tmp/results/junit.xml && sync`,
      );
      const before = (await run(session, IDENTITY)).trim().split('\n');
      await session.close();

      const expiresAt = new Date(Date.now() + 3 * 86_400_000);
      const image = await provider.captureFailureImage(ctx, info.id, {
        commit: 'c'.repeat(40),
        failingTests: ['suite adds', 'suite divides'],
        expiresAt,
      });
      expect(image.tags).toMatchObject({
        'ovenproof:failure-of': ctx.runId,
        'ovenproof:commit': 'c'.repeat(40),
        'ovenproof:failed-tests': 'suite adds, suite divides',
        'ovenproof:expires-at': expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      });
      expect(image.parent).toBe(base.id);
      expect(image.bakeKey).toBeNull();
      expect(ledger.entries().find((e) => e.id === image.id)?.state).toBe('kept');
      // The image under the overlay was only read.
      const baseAfter = await stat(provider.store.files(base.id).disk);
      expect([baseAfter.size, baseAfter.mtimeMs]).toEqual([baseDisk.size, baseDisk.mtimeMs]);

      // The captured instance still runs (the copy paused it only) and terminates as usual.
      await provider.terminate(ctx, info.id);
      expect(await liveInstances([info.id])).toEqual([]);

      const env = { ...process.env, OVENPROOF_HOME: provider.paths.home };
      const repro = await runCommand(
        reproduceCommand,
        ['--image', image.id, '--', `cat /var/tmp/results/junit.xml; ${IDENTITY}`],
        { env },
      );
      expect(repro.code, repro.stderr).toBe(0);
      const [file, ...after] = repro.stdout.trim().split('\n');
      expect(file).toBe(marker);
      const [hostname, machineId, hostKey] = after;
      expect(hostname).toMatch(/^ovenproof-op-repro-/);
      expect(hostname).not.toBe(before[0]);
      expect(machineId).toMatch(/^[0-9a-f]{32}$/);
      expect(machineId).not.toBe(before[1]);
      expect(hostKey).not.toBe(before[2]);
      const reproduced = /instance (i-[0-9a-f]+) is booting/.exec(repro.stderr)![1]!;
      expect(repro.stderr).toContain(`terminated instance ${reproduced}`);
      expect(await liveInstances([reproduced])).toEqual([]);

      // Interactive: a real PTY from script(1); type a command, read its output, Ctrl-D ends the shell.
      const child = spawn(
        'script',
        [
          '-qfec',
          `${process.execPath} --import tsx src/cli/main.ts reproduce --image ${image.id}`,
          '/dev/null',
        ],
        { env: { ...env, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
      const waitFor = async (re: RegExp, ms: number) => {
        const deadline = Date.now() + ms;
        while (!re.test(output)) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} in:\n${output}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      await waitFor(/instance (i-[0-9a-f]+) is booting/, 120_000);
      const ptyInstance = /instance (i-[0-9a-f]+) is booting/.exec(output)![1]!;
      await waitFor(/[#$] $/m, 400_000);
      child.stdin.write('stty size; tty; echo "ANSWER-$((6 * 7))"\r');
      await waitFor(/ANSWER-42/, 60_000);
      expect(output).toMatch(/\/dev\/pts\/\d+/);
      child.stdin.write('\x04');
      expect(await exited).toBe(0);
      expect(output).toContain(`terminated instance ${ptyInstance}`);
      expect(await liveInstances([ptyInstance])).toEqual([]);

      // Only the failure image is left, until its expiry; then sweep removes it.
      expect((await provider.sweep({ dryRun: true }, silentLogger)).map((r) => r.id)).not.toContain(image.id);
      await provider.store.tag(image.id, {
        'ovenproof:expires-at': new Date(Date.now() - 1000).toISOString(),
      });
      const swept = await provider.sweep({ dryRun: false }, silentLogger);
      expect(swept.filter((r) => r.deleted).map((r) => r.id)).toContain(image.id);
      expect(await provider.describeImage(image.id)).toBeNull();
    },
    timeoutFor(VM_BOOT, budgets.diskCopy, VM_BOOT, VM_BOOT, budgets.sshCommands, budgets.teardown),
  );
});
