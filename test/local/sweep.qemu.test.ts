import { beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { access, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBaseImage, localTestProvider } from '../support/local-base.js';
import { budgets, timeoutFor } from '../support/timeouts.js';
import { Ledger } from '../../src/pipeline/ledger.js';
import { mountsBelow } from '../../src/providers/local/owner.js';
import { captureCommand } from '../../src/common/host/command.js';
import { silentLogger } from '../../src/common/log.js';
import { listQemu, testContext, testIdentity } from './helpers.js';
import { readInstance } from '../../src/providers/local/instances.js';
import { isProcessAlive } from '../../src/common/host/process.js';

const provider = localTestProvider();
const child = new URL('./fixtures/crash-child.ts', import.meta.url).pathname;

interface Leftovers {
  qemu: number[];
  loops: string[];
  mounts: string[];
  files: string[];
}

/** What a run left on this host, found from its ledger (other suites may share the home meanwhile). */
async function leftovers(ledgerPath: string): Promise<Leftovers> {
  const entries = (await Ledger.open(ledgerPath)).entries();
  const ids = (kind: string) => entries.filter((e) => e.kind === kind).map((e) => e.data.id!);
  const dirs = [
    ...ids('volume').map((id) => join(provider.paths.volumes, id)),
    ...ids('instance').map((id) => join(provider.paths.instances, id)),
    ...entries.filter((e) => e.kind === 'file').map((e) => e.data.path!),
  ];
  const files: string[] = [];
  for (const dir of dirs) {
    if (
      await access(dir).then(
        () => true,
        () => false,
      )
    )
      files.push(dir);
  }
  for (const name of await readdir(provider.paths.images)) {
    if (name.endsWith('.tmp') || name.startsWith('.staging')) files.push(join(provider.paths.images, name));
  }
  const loops = await captureCommand('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE']);
  const qemu: number[] = [];
  const mounts: string[] = [];
  for (const dir of dirs) {
    qemu.push(...(await listQemu(`${dir}/`)));
    mounts.push(...(await mountsBelow(dir)));
  }
  return {
    qemu,
    loops: loops.stdout
      .split('\n')
      .filter((l) => dirs.some((d) => l.includes(`${d}/`)))
      .map((l) => l.trim()),
    mounts,
    files,
  };
}

const clean: Leftovers = { qemu: [], loops: [], mounts: [], files: [] };

/** Runs the crash child until it reports `step`, then SIGKILLs it; resolves with its ledger path. */
async function crashAt(step: string, imageId: string): Promise<string> {
  const ledgerPath = join(await mkdtemp(join(tmpdir(), 'ovenproof-crash-')), 'ledger.json');
  const proc = spawn(process.execPath, ['--import', 'tsx', child, ledgerPath, imageId, step], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.split('\n').includes(step)) resolve();
    });
    proc.on('close', (code) => reject(new Error(`crash child exited (${code}) before "${step}": ${stderr}`)));
  });
  proc.kill('SIGKILL');
  await new Promise((r) => proc.on('close', r));
  return ledgerPath;
}

/** The crash child copies the base into a volume and starts QEMU; two sweeps then remove everything. */
const CRASH_AND_SWEEP = timeoutFor(budgets.diskCopy, budgets.launch, budgets.teardown, budgets.teardown);

beforeAll(async () => {
  await ensureBaseImage();
}, timeoutFor(budgets.baseImage));

describe('local sweep after a crash', { timeout: CRASH_AND_SWEEP }, () => {
  it.each(['volume', 'attach', 'mount', 'launch'])(
    '(QEMU) (root) SIGKILL after the %s step, then sweep leaves no QEMU, loop device, mount or temp file',
    async (step) => {
      const base = await ensureBaseImage();
      const ledgerPath = await crashAt(step, base.id);

      const left = await leftovers(ledgerPath);
      expect(left.files.some((f) => f.startsWith(provider.paths.volumes))).toBe(true);
      if (step !== 'volume') expect(left.loops.length).toBe(1);
      if (step === 'mount' || step === 'launch') expect(left.mounts.length).toBe(2);
      if (step === 'launch') expect(left.qemu.length).toBe(1);

      const dry = await provider.sweep({ dryRun: true }, silentLogger);
      expect(dry.length).toBeGreaterThan(0);
      expect(dry.every((r) => !r.deleted)).toBe(true);
      expect(await leftovers(ledgerPath)).toEqual(left);

      const swept = await provider.sweep({ dryRun: false }, silentLogger);
      expect(swept.filter((r) => !r.deleted)).toEqual([]);
      expect(await leftovers(ledgerPath)).toEqual(clean);
      expect((await provider.listImages({ idOrName: base.id })).length).toBe(1);
    },
  );

  it('(QEMU) (root) the ledger of a killed run is enough to delete everything it created', async () => {
    const base = await ensureBaseImage();
    const ledgerPath = await crashAt('launch', base.id);
    const ledger = await Ledger.open(ledgerPath);
    const live = ledger.live();
    expect(live.map((e) => e.kind)).toEqual(['instance', 'mount', 'mount', 'file', 'attachment', 'volume']);
    for (const entry of live) {
      await provider.deleteResource(entry, silentLogger);
      await provider.deleteResource(entry, silentLogger); // idempotent
    }
    expect(await leftovers(ledgerPath)).toEqual(clean);
    expect(JSON.parse(await readFile(ledgerPath, 'utf8')).runId).toBe(ledger.runId);
  });
});

describe('local sweep beside a live run', () => {
  it(
    '(QEMU) sweeps while an instance launches and runs leave its QEMU and its watchdog alone',
    async () => {
      const base = await ensureBaseImage();
      const { ctx } = await testContext();
      const launching = provider.launch(ctx, {
        imageId: base.id,
        purpose: 'test',
        identity: testIdentity('sweep-beside').identity,
        sshUser: 'root',
        ttlMs: 20 * 60_000,
        warmBoot: 'never',
      });
      let launched = false;
      void launching.then(
        () => (launched = true),
        () => (launched = true),
      );
      // Another job on the same host sweeping over and over, through the whole launch.
      const found = [];
      while (!launched) found.push(...(await provider.sweep({ dryRun: false }, silentLogger)));
      const info = await launching;
      try {
        found.push(...(await provider.sweep({ dryRun: false }, silentLogger)));
        const record = (await readInstance(provider.paths, info.id))!;
        const pids = [String(record.qemuPid), String(record.watchdogPid)];
        expect(found.filter((r) => r.id === info.id || pids.includes(r.id))).toEqual([]);
        expect(isProcessAlive(record.qemuPid!)).toBe(true);
        expect(isProcessAlive(record.watchdogPid!)).toBe(true);
        expect(await listQemu(`${provider.paths.instances}/${info.id}/`)).toEqual([record.qemuPid]);
      } finally {
        await provider.terminate(ctx, info.id);
      }
    },
    timeoutFor(budgets.launch, budgets.teardown),
  );
});
