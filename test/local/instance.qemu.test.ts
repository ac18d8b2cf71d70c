import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stat, access } from 'node:fs/promises';
import { ensureBaseImage, localTestProvider } from '../support/local-base.js';
import { budgets, ovenproofDeadlines, testDeadlines, timeoutFor } from '../support/timeouts.js';
import { listQemu, testContext, testIdentity } from './helpers.js';
import { fingerprint, publicKeyBlob, waitForSsh, type SshSession } from '../../src/ssh/index.js';
import { HostKeyMismatchError } from '../../src/common/errors.js';
import type { InstanceInfo } from '../../src/providers/provider.js';

const provider = localTestProvider();
const sessions: SshSession[] = [];

async function run(session: SshSession, command: string): Promise<string> {
  let out = '';
  const result = await session.exec(command, { onStdout: (t) => (out += t), onStderr: (t) => (out += t) });
  expect(result.exitCode, `${command}\n${out}`).toBe(0);
  return out;
}

/** A guest's shutdown to power-off, under load. */
const GUEST_POWEROFF_MS = 120_000;

/**
 * Two VMs launched and booted side by side, the refused connection (it may wait as long), one guest
 * powering itself off, stop, image.
 */
const TWO_BOOTS_AND_AN_IMAGE = timeoutFor(
  budgets.launch,
  GUEST_POWEROFF_MS,
  testDeadlines.vmSshReady,
  budgets.sshCommands,
  testDeadlines.vmSshReady,
  ovenproofDeadlines.localStop,
  budgets.diskCopy,
  budgets.teardown,
);

beforeAll(async () => {
  await ensureBaseImage();
}, timeoutFor(budgets.baseImage));

afterAll(async () => {
  for (const s of sessions) await s.close().catch(() => undefined);
}, timeoutFor());

describe('local provider instances', { timeout: TWO_BOOTS_AND_AN_IMAGE }, () => {
  it('(QEMU) boots the base twice with distinct identities, pins the generated host key, refuses a wrong one, one powers itself off at its TTL, images a stopped instance', async () => {
    const base = await ensureBaseImage();
    expect(base.parent).toBeNull();
    expect(base.packages['openssh-server']).toBeTruthy();
    expect(base.packages['systemd']).toBeTruthy();

    const { ctx, ledger } = await testContext();
    const a = testIdentity('host-a');
    const b = testIdentity('host-b');
    const launch = (identity: typeof a.identity) =>
      provider.launch(ctx, {
        imageId: base.id,
        purpose: 'test',
        identity,
        ttlMs: 20 * 60_000,
        sshUser: 'root',
      });
    const [infoA, infoB] = await Promise.all([launch(a.identity), launch(b.identity)]);
    for (const info of [infoA, infoB]) {
      expect(info.host).toBe('127.0.0.1');
      expect(info.networkProbe?.host).toBe('127.0.0.1');
    }
    const connect = (info: InstanceInfo, key: string, hostKeyPublic = info.hostKeyPublic) =>
      waitForSsh(
        {
          host: info.host,
          port: info.port,
          user: info.user,
          privateKey: key,
          hostKeyPublic,
          networkProbe: info.networkProbe,
        },
        { timeoutMs: testDeadlines.vmSshReady, stage: 'launch' },
      );
    const [sa, sb] = await Promise.all([
      connect(infoA, a.clientPrivateKey),
      connect(infoB, b.clientPrivateKey),
    ]);
    sessions.push(sa, sb);

    const facts = async (s: SshSession) => {
      const out = await run(
        s,
        'hostname; cat /etc/machine-id; ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d" " -f2; ls /etc/ssh | grep -c "^ssh_host_"',
      );
      const [hostname, machineId, hostKey, hostKeyFiles] = out.trim().split('\n');
      return { hostname, machineId, hostKey, hostKeyFiles };
    };
    const [fa, fb] = [await facts(sa), await facts(sb)];
    expect(fa.hostname).toBe('host-a');
    expect(fb.hostname).toBe('host-b');
    expect(fa.machineId).toMatch(/^[0-9a-f]{32}$/);
    expect(fa.machineId).not.toBe(fb.machineId);
    expect(fa.hostKey).toBe(fingerprint(publicKeyBlob(a.identity.hostKeyPublic)));
    expect(fb.hostKey).toBe(fingerprint(publicKeyBlob(b.identity.hostKeyPublic)));
    expect(fa.hostKey).not.toBe(fb.hostKey);
    expect(fa.hostKeyFiles).toBe('2'); // only the run's ed25519 pair

    // No secret in the guest's logs or on the serial console; the init logged only the fingerprint.
    const secretLine = a.identity.hostKeyPrivate.split('\n')[1]!;
    const journal = await run(sa, 'journalctl -b -o cat --no-pager');
    expect(journal).toContain(`ovenproof-identity: instance ${infoA.id}: hostname host-a`);
    expect(journal).not.toContain(secretLine);
    expect(journal).not.toContain(
      Buffer.from(a.identity.hostKeyPrivate.trim() + '\n')
        .toString('base64')
        .slice(0, 40),
    );
    const consoleText = await provider.consoleOutput(infoA.id);
    expect(consoleText).toContain('ovenproof-identity');
    expect(consoleText).not.toContain(secretLine);

    // A wrong expected host key is refused (never retried, never trusted on first use).
    await expect(connect(infoA, a.clientPrivateKey, b.identity.hostKeyPublic)).rejects.toBeInstanceOf(
      HostKeyMismatchError,
    );

    // The guest's own dead-man switch is armed with the TTL at boot and powers the VM off by itself:
    // given a 2-second TTL in its place, B's QEMU ends long before the host's watchdog (at 20 minutes).
    expect(await run(sb, 'cat /run/ovenproof/ttl-seconds; systemctl is-active ovenproof-ttl.service')).toBe(
      '1200\nactive\n',
    );
    await run(sb, 'echo 2 >/run/ovenproof/ttl-seconds && systemctl restart ovenproof-ttl.service');
    const poweredOffBy = Date.now() + GUEST_POWEROFF_MS;
    while ((await listQemu(`${provider.paths.instances}/${infoB.id}/`)).length > 0) {
      if (Date.now() > poweredOffBy)
        throw new Error(`instance B still runs ${GUEST_POWEROFF_MS / 1000} s after its TTL ran out`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(await provider.consoleOutput(infoB.id)).toContain('reboot: Power down');

    // Stop A cleanly and turn its disk into a new image with the base as parent.
    await sa.close();
    await provider.stopInstance(ctx, infoA.id);
    const image = await provider.createImageFromInstance(ctx, infoA.id, {
      name: 'from-instance',
      os: base.os,
      arch: base.arch,
      parent: base.id,
      packages: base.packages,
      bakeKey: 'test-bake-key',
      tags: {},
    });
    expect(image.parent).toBe(base.id);
    expect((await provider.listImages({ bakeKey: 'test-bake-key' })).map((i) => i.id)).toEqual([image.id]);
    expect(image.tags['ovenproof:expires-at']).toBe(ctx.expiresAt.toISOString());
    expect((await stat(provider.store.files(image.id).disk)).mode & 0o222).toBe(0);

    await provider.terminate(ctx, infoA.id);
    await provider.terminate(ctx, infoB.id);
    await provider.deregisterImage(ctx, image.id);
    for (const info of [infoA, infoB]) {
      await expect(access(`${provider.paths.instances}/${info.id}`)).rejects.toThrow();
    }
    for (const info of [infoA, infoB]) {
      expect(await listQemu(`${provider.paths.instances}/${info.id}/`)).toEqual([]);
    }
    expect(ledger.live()).toEqual([]);
  });
});
