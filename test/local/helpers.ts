import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Ledger } from '../../src/pipeline/ledger.js';
import type { InstanceIdentity, RunContext } from '../../src/providers/provider.js';
import { generateEd25519KeyPair } from '../../src/ssh/index.js';
import { silentLogger } from '../../src/common/log.js';

/** A RunContext journaling into a real ledger file, as the pipeline does. */
export async function testContext(ttlMs = 30 * 60_000): Promise<{ ctx: RunContext; ledger: Ledger }> {
  const dir = await mkdtemp(join(tmpdir(), 'ovenproof-local-test-'));
  const runId = `test-${randomBytes(4).toString('hex')}`;
  const ledger = await Ledger.create(join(dir, 'ledger.json'), runId, {});
  const ctx: RunContext = {
    runId,
    expiresAt: new Date(Date.now() + ttlMs),
    journal: ledger,
    signal: new AbortController().signal,
    log: silentLogger,
    progress: () => undefined,
    tags: {},
  };
  return { ctx, ledger };
}

/** A run's identity as the pipeline makes it: fresh client key and host key (SPEC §1.4). */
export function testIdentity(hostname: string): { identity: InstanceIdentity; clientPrivateKey: string } {
  const client = generateEd25519KeyPair('ovenproof-test-client');
  const host = generateEd25519KeyPair('ovenproof-test-host');
  return {
    identity: {
      hostname,
      authorizedKey: client.publicKey,
      hostKeyPrivate: host.privateKey,
      hostKeyPublic: host.publicKey,
    },
    clientPrivateKey: client.privateKey,
  };
}

/** Pids of QEMU processes (not their `timeout` watchdogs) whose arguments mention `prefix`. */
export async function listQemu(prefix: string): Promise<number[]> {
  const pids: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const argv = (await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv[0]?.includes('qemu-system') && argv.some((a) => a.includes(prefix))) pids.push(Number(p));
  }
  return pids;
}
