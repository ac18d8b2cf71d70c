/**
 * Test helper: a real Debian OpenSSH sshd on 127.0.0.1 with its own config, host key and authorized
 * key in a temp dir (needs root: sshd refuses to run its privilege separation otherwise).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateEd25519KeyPair, type KeyPair, type SshTarget } from '../../src/ssh/index.js';

export interface TestSshd {
  dir: string;
  port: number;
  hostKey: KeyPair;
  clientKey: KeyPair;
  target: SshTarget;
  /** sshd's own log (LogLevel VERBOSE). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startSshd(): Promise<TestSshd> {
  const dir = await mkdtemp(join(tmpdir(), 'ovenproof-sshd-'));
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = generateEd25519KeyPair('test-host');
  const clientKey = generateEd25519KeyPair('test-client');
  await writeFile(join(dir, 'host_ed25519'), hostKey.privateKey, { mode: 0o600 });
  await writeFile(join(dir, 'authorized_keys'), `${clientKey.publicKey}\n`, { mode: 0o600 });
  const port = await freePort();
  const config = [
    `ListenAddress 127.0.0.1:${port}`,
    `HostKey ${join(dir, 'host_ed25519')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'LogLevel VERBOSE',
    'Subsystem sftp internal-sftp',
  ].join('\n');
  await writeFile(join(dir, 'sshd_config'), `${config}\n`);
  const logFile = join(dir, 'sshd.log');
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-f', join(dir, 'sshd_config'), '-E', logFile], {
    stdio: 'ignore',
  });
  await waitForListen(port, child);
  return {
    dir,
    port,
    hostKey,
    clientKey,
    target: {
      host: '127.0.0.1',
      port,
      user: 'root',
      privateKey: clientKey.privateKey,
      hostKeyPublic: hostKey.publicKey,
    },
    log: () => readFile(logFile, 'utf8').catch(() => ''),
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForListen(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sshd did not listen on 127.0.0.1:${port}`);
}

/** A TCP relay to the sshd whose live connections the test can cut, like a NAT timeout or a network blip. */
export interface CuttableProxy {
  port: number;
  connections: number;
  cutAll(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<CuttableProxy> {
  const live = new Set<Socket>();
  const proxy: CuttableProxy = {
    port: 0,
    connections: 0,
    cutAll: () => {
      for (const socket of live) socket.destroy();
      live.clear();
    },
    close: async () => {
      proxy.cutAll();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server: Server = createServer((client) => {
    proxy.connections += 1;
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    live.add(client);
    live.add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      live.delete(client);
      live.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as { port: number }).port;
  return proxy;
}
