import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, PipelineError } from '../../src/common/errors.js';
import {
  fingerprint,
  generateEd25519KeyPair,
  probeNetwork,
  publicKeyBlob,
  waitForSsh,
} from '../../src/ssh/index.js';
import { globWord, shQuote } from '../../src/ssh/shell.js';
import { checkPrivateKey } from '../../src/ssh/keys.js';
import { freePort } from './sshd.js';

const client = generateEd25519KeyPair('client');
const host = generateEd25519KeyPair('host');

describe('readiness loop', () => {
  it('gives up at the deadline naming host:port and the last failure, without key material', async () => {
    const port = await freePort();
    const error = await waitForSsh(
      { host: '127.0.0.1', port, user: 'root', privateKey: client.privateKey, hostKeyPublic: host.publicKey },
      { timeoutMs: 1_200, stage: 'launch' },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PipelineError);
    expect((error as PipelineError).stage).toBe('launch');
    expect((error as Error).message).toContain(`root@127.0.0.1:${port} not ready`);
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect((error as Error).message).not.toContain('PRIVATE KEY');
  });

  it('stops waiting as soon as the machine has ended, with its reason, and reports progress', async () => {
    const port = await freePort();
    let checks = 0;
    const progress: Array<[number, number]> = [];
    const error = await waitForSsh(
      { host: '127.0.0.1', port, user: 'root', privateKey: client.privateKey, hostKeyPublic: host.publicKey },
      {
        timeoutMs: 600_000,
        stage: 'bake',
        endedCheckMs: 200,
        whyEnded: async () =>
          ++checks >= 3 ? 'instance i-0abc is stopped (Client.InstanceInitiatedShutdown)' : null,
        onProgress: (elapsed, remaining) => progress.push([elapsed, remaining]),
      },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PipelineError);
    expect((error as PipelineError).stage).toBe('bake');
    expect((error as Error).message).toMatch(
      new RegExp(
        `^SSH to root@127\\.0\\.0\\.1:${port} cannot succeed: instance i-0abc is stopped \\(Client.InstanceInitiatedShutdown\\) \\(after \\d+s, \\d+ attempts; last failure: .*ECONNREFUSED`,
      ),
    );
    expect(checks).toBe(3);
    expect(progress.length).toBeGreaterThan(0);
    for (const [elapsed, remaining] of progress) expect(elapsed + remaining).toBeLessThanOrEqual(600_000);
  });

  it('retries a server that drops connections before the handshake, as a booting guest does', async () => {
    let accepted = 0;
    const server: Server = createServer((socket) => {
      accepted += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const error = await waitForSsh(
        {
          host: '127.0.0.1',
          port,
          user: 'root',
          privateKey: client.privateKey,
          hostKeyPublic: host.publicKey,
        },
        { timeoutMs: 1_500 },
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PipelineError);
      expect(accepted).toBeGreaterThan(1);
    } finally {
      server.close();
    }
  });

  it('rejects an unreadable client key or host key with a clear error that quotes no key', async () => {
    const port = await freePort();
    const badKey =
      '-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LXNlY3JldA==\n-----END OPENSSH PRIVATE KEY-----\n';
    const e1 = await waitForSsh(
      { host: '127.0.0.1', port, user: 'root', privateKey: badKey, hostKeyPublic: host.publicKey },
      { timeoutMs: 5_000 },
    ).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ConfigError);
    expect((e1 as Error).message).not.toContain('c2VjcmV0');
    const e2 = await waitForSsh(
      {
        host: '127.0.0.1',
        port,
        user: 'root',
        privateKey: client.privateKey,
        hostKeyPublic: 'ssh-ed25519 !!!',
      },
      { timeoutMs: 5_000 },
    ).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(ConfigError);
  });

  it('aborts promptly when cancelled', async () => {
    const port = await freePort();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const error = await waitForSsh(
      { host: '127.0.0.1', port, user: 'root', privateKey: client.privateKey, hostKeyPublic: host.publicKey },
      { timeoutMs: 60_000, signal: controller.signal },
    ).catch((e: unknown) => e);
    expect((error as Error).name).toBe('CancelledError');
  });
});

describe('network probe (QEMU user-mode networking semantics)', () => {
  let closing: Server;
  let silent: Server;
  const held: Array<{ destroy(): void }> = [];
  beforeAll(async () => {
    // Like QEMU once the guest answered: accept, then close at once.
    closing = createServer((socket) => socket.destroy());
    // Like QEMU while the guest has no network yet: accept and never answer.
    silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => closing.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => {
    held.forEach((s) => s.destroy());
    closing.close();
    silent.close();
  });

  it('reports up on close/reset, down while unanswered or refused', async () => {
    const port = (s: Server): number => (s.address() as { port: number }).port;
    expect(await probeNetwork({ host: '127.0.0.1', port: port(closing) }, 2_000)).toBe(true);
    expect(await probeNetwork({ host: '127.0.0.1', port: port(silent) }, 300)).toBe(false);
    expect(await probeNetwork({ host: '127.0.0.1', port: await freePort() }, 2_000)).toBe(false);
  });
});

describe('keys and shell quoting', () => {
  it('generates ed25519 pairs whose public blob and fingerprint are stable', () => {
    const pair = generateEd25519KeyPair('ovenproof-run-1');
    expect(pair.publicKey).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ ovenproof-run-1$/);
    expect(pair.privateKey).toContain('BEGIN OPENSSH PRIVATE KEY');
    const fp = execFileSync('ssh-keygen', ['-lf', '-'], { input: pair.publicKey }).toString();
    expect(fp).toContain(fingerprint(publicKeyBlob(pair.publicKey)));
  });

  it('every generated private key is well formed (ssh2 alone gets about one in 200 wrong)', async () => {
    // 2,000 pairs: without the parse-back check at least one is malformed with probability > 0.9999.
    for (let i = 0; i < 2000; i++) {
      const { privateKey } = generateEd25519KeyPair(`k${i}`);
      expect(() => checkPrivateKey(privateKey)).not.toThrow();
    }
    // And OpenSSH itself reads one back to the same public key.
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-key-'));
    const pair = generateEd25519KeyPair('openssh');
    await writeFile(join(dir, 'id'), pair.privateKey, { mode: 0o600 });
    const derived = execFileSync('ssh-keygen', ['-y', '-f', join(dir, 'id')])
      .toString()
      .trim();
    expect(derived.split(' ').slice(0, 2)).toEqual(pair.publicKey.split(' ').slice(0, 2));
  }, 60_000);

  it('expands globs on sh while every other character stays literal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-glob-'));
    try {
      await mkdir(join(dir, 'a b'), { recursive: true });
      await writeFile(join(dir, 'a b', 'r1.xml'), '');
      await writeFile(join(dir, 'a b', 'r2.xml'), '');
      await writeFile(join(dir, 'x;$(touch pwned).xml'), '');
      const patterns = [`${dir}/a b/*.xml`, `${dir}/x;$(touch pwned).xml`, `${dir}/nothing/*.xml`];
      const script = `cd ${shQuote(dir)} && for f in ${patterns.map(globWord).join(' ')}; do [ -f "$f" ] && printf '%s\\n' "$f"; done; true`;
      const out = execFileSync('/bin/sh', ['-c', script]).toString().trim().split('\n');
      expect(out).toEqual([`${dir}/a b/r1.xml`, `${dir}/a b/r2.xml`, `${dir}/x;$(touch pwned).xml`]);
      expect(execFileSync('ls', [dir]).toString()).not.toContain('pwned\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
