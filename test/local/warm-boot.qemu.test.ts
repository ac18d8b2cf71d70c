/**
 * Warm boot through real QEMU: two clones restored from one warm snapshot of the base image must not
 * share any identity (machine-id, hostname, SSH host key, kernel RNG output), must run on the host's
 * clock, and the saved VM state must hold none of the keys the clones were given.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { open, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { ensureBaseImage, localTestProvider } from '../support/local-base.js';
import { listQemu, testContext, testIdentity } from './helpers.js';
import { fingerprint, publicKeyBlob, waitForSsh, type SshSession } from '../../src/ssh/index.js';
import { ensureWarmSnapshot, warmFiles, type WarmSnapshot } from '../../src/providers/local/warm-snapshot.js';
import type { InstanceIdentity, InstanceInfo } from '../../src/providers/provider.js';
import { VM_BOOT, budgets, timeoutFor } from '../support/timeouts.js';

const provider = localTestProvider();
const sessions: SshSession[] = [];
const launched: string[] = [];
const images: string[] = [];

afterAll(async () => {
  for (const s of sessions) await s.close().catch(() => undefined);
  const { ctx } = await testContext();
  for (const id of launched) await provider.terminate(ctx, id).catch(() => undefined);
  for (const id of images) await provider.deregisterImage(ctx, id).catch(() => undefined);
}, timeoutFor(budgets.teardown));

interface CloneFacts {
  user: string;
  machineId: string;
  hostname: string;
  hostKey: string;
  urandom: string;
  /** Guest clock minus the host's clock just before and just after the command, in seconds. */
  guestMinusBeforeS: number;
  guestMinusAfterS: number;
}

async function facts(session: SshSession): Promise<CloneFacts> {
  let out = '';
  const before = Date.now() / 1000;
  const result = await session.exec(
    "date +%s.%N; id -un; cat /etc/machine-id; hostname; ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2; head -c16 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo",
    { onStdout: (t) => (out += t), onStderr: (t) => (out += t) },
  );
  const after = Date.now() / 1000;
  expect(result.exitCode, out).toBe(0);
  const [guestTime, user, machineId, hostname, hostKey, urandom] = out.trim().split('\n');
  const guest = Number(guestTime);
  return {
    user: user!,
    machineId: machineId!,
    hostname: hostname!,
    hostKey: hostKey!,
    urandom: urandom!,
    guestMinusBeforeS: guest - before,
    guestMinusAfterS: guest - after,
  };
}

/**
 * The 16 random bytes (the cookie) of the first key-exchange message of the SSH server at host:port,
 * read with a bare TCP connection: the server sends its KEXINIT unencrypted right after the versions.
 */
function serverKexCookie(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    let received = Buffer.alloc(0);
    const done = (error: Error | null, cookie = '') => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(cookie);
    };
    const timer = setTimeout(() => done(new Error(`no KEXINIT from ${host}:${port} within 60 s`)), 60_000);
    socket.on('error', (error) => done(error));
    socket.write('SSH-2.0-ovenproof-test\r\n');
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const versionEnd = received.indexOf('\r\n');
      if (versionEnd < 0) return;
      // A binary packet: uint32 length, byte padding length, then the payload: message 20 (KEXINIT)
      // followed by the cookie.
      const packet = received.subarray(versionEnd + 2);
      if (packet.length < 4 + 1 + 1 + 16) return;
      if (packet[5] !== 20) done(new Error(`expected KEXINIT (20), got message ${packet[5]}`));
      else done(null, packet.subarray(6, 22).toString('hex'));
    });
  });
}

describe('local warm boot', () => {
  it(
    '(QEMU) two clones of one warm snapshot: own machine-id, hostname, host key and RNG output, host clock; the saved state holds none of their keys; a disk from a clone boots cold as the image does',
    async () => {
      const base = await ensureBaseImage();
      const { ctx } = await testContext();
      // A fallback to a cold boot says why in a warning: show it.
      ctx.log = { ...ctx.log, warn: (m) => process.stderr.write(`[warm] warning: ${m}\n`) };
      const p = provider as unknown as {
        paths: Parameters<typeof ensureWarmSnapshot>[0];
        store: Parameters<typeof ensureWarmSnapshot>[1];
        privileged: Parameters<typeof ensureWarmSnapshot>[2];
        instanceOptions: Parameters<typeof ensureWarmSnapshot>[3];
      };
      // Made here when missing or stale (a cold boot of the image), so the launches below only restore.
      const snapshot: WarmSnapshot = await ensureWarmSnapshot(
        p.paths,
        p.store,
        p.privileged,
        p.instanceOptions,
        ctx,
        base,
      );
      const files = warmFiles(p.paths, p.store.files(base.id).dir);
      const savedFiles = [files.state, files.memory];
      const savedBefore = await Promise.all(savedFiles.map((f) => stat(f)));
      for (const saved of savedBefore) expect(saved.mode & 0o222).toBe(0);
      const manifest = await provider.describeImage(base.id);
      expect(manifest?.sizes?.warmSnapshotBytes).toBe(
        snapshot.stateBytes + snapshot.memoryBytes + snapshot.diskBytes,
      );

      const a = testIdentity('warm-clone-a');
      const b = testIdentity('warm-clone-b');
      // Clone a logs in as root (the agent applies the identity itself), clone b as a user the image does
      // not have (the agent hands the identity to the image's identity init, which creates the user).
      const launch = async (identity: InstanceIdentity, sshUser: string) => {
        const info = await provider.launch(ctx, {
          imageId: base.id,
          purpose: 'test',
          identity,
          ttlMs: 20 * 60_000,
          sshUser,
          warmBoot: 'auto',
        });
        launched.push(info.id);
        return info;
      };
      const infoA = await launch(a.identity, 'root');
      const infoB = await launch(b.identity, 'warm-tester');
      for (const info of [infoA, infoB]) {
        expect(info.boot).toBe('restored');
        expect(info.steps?.map((s) => s.name)).toEqual(['restore', 'identity']);
      }
      const connect = (info: InstanceInfo, key: string) =>
        waitForSsh(
          {
            host: info.host,
            port: info.port,
            user: info.user,
            privateKey: key,
            hostKeyPublic: info.hostKeyPublic,
            networkProbe: info.networkProbe,
          },
          { timeoutMs: 300_000, stage: 'launch' },
        );
      const sa = await connect(infoA, a.clientPrivateKey);
      sessions.push(sa);
      const sb = await connect(infoB, b.clientPrivateKey);
      sessions.push(sb);
      const fa = await facts(sa);
      const fb = await facts(sb);
      process.stderr.write(
        `[warm] snapshot ${JSON.stringify(snapshot.booted)}\n[warm] a ${JSON.stringify(fa)}\n[warm] b ${JSON.stringify(fb)}\n`,
      );

      expect([fa.user, fb.user]).toEqual(['root', 'warm-tester']);
      // The agent stays as the clone's dead-man switch, waiting out its TTL.
      let agentState = '';
      await sa.exec('systemctl is-active ovenproof-warm-agent.service', {
        onStdout: (t) => (agentState += t),
      });
      expect(agentState.trim()).toBe('active');
      // sshd was started in the snapshot and got its configuration from the agent: a restart (or a
      // reload, which re-executes it) reads the configuration file itself, and logins still work.
      let restarted = '';
      const restart = await sa.exec(
        'systemctl restart ssh.service && systemctl is-active ssh.service && readlink /run/ovenproof/sshd_config',
        { onStdout: (t) => (restarted += t), onStderr: (t) => (restarted += t) },
      );
      expect(restart.exitCode, restarted).toBe(0);
      expect(restarted.trim().split('\n')).toEqual(['active', '/etc/ssh/sshd_config']);
      const again = await connect(infoA, a.clientPrivateKey);
      sessions.push(again);
      expect((await again.exec('true')).exitCode).toBe(0);

      // A disk that comes from a clone (a failure image) boots cold exactly as the image does: no agent,
      // and sshd with the image's own options and configuration file, the identity init's host key.
      // The clone's identity state file is emptied first, as a copy taken while it was being written
      // would hold it: the identity init must still apply the new identity.
      const emptied = await again.exec(': >/var/lib/ovenproof/instance-id && sync');
      expect(emptied.exitCode).toBe(0);
      const failure = await provider.captureFailureImage!(ctx, infoA.id, {
        commit: null,
        failingTests: ['warm clone'],
        expiresAt: new Date(Date.now() + 60 * 60_000),
      });
      images.push(failure.id);
      const c = testIdentity('cold-from-clone');
      const infoC = await provider.launch(ctx, {
        imageId: failure.id,
        purpose: 'test',
        identity: c.identity,
        ttlMs: 20 * 60_000,
        sshUser: 'root',
        warmBoot: 'never',
      });
      launched.push(infoC.id);
      expect(infoC.boot).toBe('cold');
      const sc = await connect(infoC, c.clientPrivateKey).catch(async (error: unknown) => {
        process.stderr.write(`[warm] console of ${infoC.id}:\n${await provider.consoleOutput(infoC.id)}\n`);
        throw error;
      });
      sessions.push(sc);
      let coldState = '';
      await sc.exec(
        'systemctl is-active ovenproof-warm-agent.service; ps -o args= -C sshd | grep listener; ls /run/ovenproof; hostname',
        { onStdout: (t) => (coldState += t), onStderr: (t) => (coldState += t) },
      );
      const [agentInCold, listener, ...rest] = coldState.trim().split('\n');
      expect(agentInCold).toBe('inactive');
      expect(listener).toMatch(/^sshd: \/usr\/sbin\/sshd -D \[listener\]/);
      expect(rest).not.toContain('sshd-warm.env');
      expect(rest).not.toContain('sshd_config');
      expect(rest.at(-1)).toBe('cold-from-clone');
      expect(fa.hostname).toBe('warm-clone-a');
      expect(fb.hostname).toBe('warm-clone-b');
      expect(snapshot.booted.hostname).not.toMatch(/^warm-clone/);
      expect(fa.hostKey).toBe(fingerprint(publicKeyBlob(a.identity.hostKeyPublic)));
      expect(fb.hostKey).toBe(fingerprint(publicKeyBlob(b.identity.hostKeyPublic)));
      for (const key of ['machineId', 'hostname', 'hostKey', 'urandom'] as const) {
        expect(fa[key], key).not.toBe(fb[key]);
      }
      // sshd's listener was started in the snapshot, but each connection is served by a freshly executed
      // sshd that seeds itself in the clone: the random cookies of the two clones' key exchanges differ.
      const cookieA = await serverKexCookie(infoA.host, infoA.port);
      const cookieB = await serverKexCookie(infoB.host, infoB.port);
      process.stderr.write(`[warm] KEXINIT cookies: a ${cookieA}, b ${cookieB}\n`);
      expect(cookieA).toMatch(/^[0-9a-f]{32}$/);
      expect(cookieA).not.toBe(cookieB);
      for (const f of [fa, fb]) {
        expect(f.machineId).toMatch(/^[0-9a-f]{32}$/);
        expect(f.machineId).not.toBe(snapshot.booted.machineId);
        expect(f.urandom).toMatch(/^[0-9a-f]{32}$/);
        expect(f.urandom).not.toBe(snapshot.booted.urandom);
        // The guest's clock resumed from the snapshot's time; the agent set the host's.
        expect(f.guestMinusBeforeS).toBeGreaterThan(-2);
        expect(f.guestMinusAfterS).toBeLessThan(2);
      }

      // The state and RAM were saved before any identity existed and are never written again: each
      // clone maps the RAM file copy-on-write.
      const savedAfter = await Promise.all(savedFiles.map((f) => stat(f)));
      expect(savedAfter.map((s) => s.mtimeMs)).toEqual(savedBefore.map((s) => s.mtimeMs));
      const secrets: Array<[string, string]> = [];
      for (const [name, identity] of [
        ['a', a.identity],
        ['b', b.identity],
      ] as const) {
        const privateBody = identity.hostKeyPrivate
          .split('\n')
          .filter((line) => line && !line.startsWith('-----'))
          .join('');
        secrets.push(
          [`${name} host public key`, identity.hostKeyPublic.split(' ')[1]!],
          [`${name} authorized key`, identity.authorizedKey.split(' ')[1]!],
          [`${name} host private key`, privateBody.slice(0, 64)],
          [
            `${name} host private key (as sent)`,
            Buffer.from(identity.hostKeyPrivate.trim() + '\n')
              .toString('base64')
              .slice(0, 64),
          ],
        );
      }
      secrets.push(['a machine-id', fa.machineId], ['b machine-id', fb.machineId]);
      secrets.push(['a hostname', 'warm-clone-a'], ['b hostname', 'warm-clone-b']);
      const needles = [...secrets.map(([, needle]) => needle), snapshot.booted.machineId];
      const found = new Set([
        ...(await occurringIn(files.state, needles)),
        ...(await occurringIn(files.memory, needles)),
      ]);
      for (const [what, needle] of secrets) {
        expect(found.has(needle), `${what} found in the saved state or RAM`).toBe(false);
      }
      // The search itself finds what is there: the snapshot's own boot-time machine-id.
      expect(found.has(snapshot.booted.machineId)).toBe(true);

      for (const s of sessions.splice(0)) await s.close();
      for (const id of launched.splice(0)) await provider.terminate(ctx, id);
      expect(await listQemu(`${p.paths.instances}/${infoA.id}`)).toEqual([]);
      expect(await listQemu(`${p.paths.instances}/${infoB.id}`)).toEqual([]);
      expect(await listQemu(`${p.paths.instances}/${infoC.id}`)).toEqual([]);
      for (const id of images.splice(0)) await provider.deregisterImage(ctx, id);
    },
    timeoutFor(VM_BOOT, VM_BOOT, VM_BOOT, VM_BOOT, budgets.diskCopy, budgets.sshCommands, budgets.teardown),
  );
});

/** Which of the needles occur in the file, read in chunks (the saved RAM is as large as the guest's). */
async function occurringIn(path: string, needles: string[]): Promise<string[]> {
  const found = new Set<string>();
  const overlap = Math.max(...needles.map((n) => Buffer.byteLength(n)));
  const file = await open(path, 'r');
  try {
    const chunk = Buffer.alloc(64 * 1048576);
    let carry = Buffer.alloc(0);
    for (;;) {
      const { bytesRead } = await file.read(chunk, 0, chunk.length);
      if (bytesRead === 0) break;
      const window = Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
      for (const needle of needles) if (window.includes(needle)) found.add(needle);
      carry = Buffer.from(window.subarray(Math.max(0, window.length - overlap)));
    }
  } finally {
    await file.close();
  }
  return [...found];
}
