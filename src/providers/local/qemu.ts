/**
 * QEMU plumbing: the accelerator probe (KVM only when it answers within a short timeout: on some hosts
 * /dev/kvm exists but hangs), a minimal QMP client for power-off, and free 127.0.0.1 ports.
 */
import { spawn } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { readJson } from './owner.js';

export type Accel = 'kvm' | 'tcg';

const KVM_PROBE_TIMEOUT_MS = 6000;
const KVM_PROBE_RUN_MS = 1500;

/**
 * Runs a KVM guest (the firmware, with no boot disk) for a moment and asks QMP whether it still runs.
 * On hosts where /dev/kvm hangs the QMP answer never comes; where vCPU setup fails QEMU aborts: both
 * mean TCG.
 */
export async function kvmWorks(): Promise<boolean> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return false;
  }
  return new Promise((resolve) => {
    const child = spawn(
      'qemu-system-x86_64',
      ['-accel', 'kvm', '-cpu', 'host', '-machine', 'pc', '-nodefaults', '-display', 'none', '-qmp', 'stdio'],
      { stdio: ['pipe', 'pipe', 'ignore'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(false);
    }, KVM_PROBE_TIMEOUT_MS);
    const ask = setTimeout(() => {
      child.stdin.end('{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n{"execute":"quit"}\n');
    }, KVM_PROBE_RUN_MS);
    child.on('error', () => {
      clearTimeout(timer);
      clearTimeout(ask);
      resolve(false);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(ask);
      resolve(code === 0 && /"status":\s*"running"/.test(out));
    });
    child.stdin.on('error', () => undefined);
  });
}

/**
 * The accelerator to use: OVENPROOF_ACCEL (kvm|tcg) if set, else the probe's answer, cached per boot in
 * `cacheFile` so that only the first launch after a reboot pays for the probe.
 */
export async function chooseAccel(cacheFile: string, env: NodeJS.ProcessEnv = process.env): Promise<Accel> {
  const forced = env.OVENPROOF_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  if (forced) throw new Error(`OVENPROOF_ACCEL="${forced}" must be kvm or tcg`);
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
  const cached = await readJson<{ bootId: string; accel: Accel }>(cacheFile);
  if (bootId && cached?.bootId === bootId) return cached.accel;
  const accel: Accel = (await kvmWorks()) ? 'kvm' : 'tcg';
  if (bootId)
    await writeFileAtomic(cacheFile, JSON.stringify({ bootId, accel }), 0o644).catch(() => undefined);
  return accel;
}

/** A port that was free on 127.0.0.1 a moment ago (QEMU binds it; the launch retries on a clash). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Sends one QMP command and resolves with its `return` value; rejects on an error reply or timeout. */
export function qmpCommand(
  socketPath: string,
  execute: string,
  timeoutMs = 5000,
  args?: Record<string, unknown>,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let buffer = '';
    let step = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`QMP ${execute} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (error: Error | null, value?: unknown) => {
      clearTimeout(timer);
      socket.end();
      if (error) reject(error);
      else resolve(value);
    };
    socket.on('error', (error) => finish(error));
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        const message = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc?: string } };
        if (message.error) return finish(new Error(`QMP ${execute}: ${message.error.desc ?? 'error'}`));
        if (step === 0 && message.QMP) {
          step = 1;
          socket.write('{"execute":"qmp_capabilities"}\n');
        } else if (step === 1 && 'return' in message) {
          step = 2;
          socket.write(JSON.stringify(args ? { execute, arguments: args } : { execute }) + '\n');
        } else if (step === 2 && 'return' in message) {
          return finish(null, message.return);
        }
      }
    });
  });
}
