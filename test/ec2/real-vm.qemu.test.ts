/**
 * The EC2 path with a real instance behind it: the fake endpoint's RunInstances hook boots a
 * local-provider VM from the identity in the user data the EC2 provider sent, and proxies the
 * instance address to the VM's forwarded SSH port. SSH then connects with strict host-key checking,
 * exactly as it would to an EC2 instance.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/pipeline/ledger.js';
import { parseUserData } from '../../src/providers/ec2/index.js';
import type { RunContext } from '../../src/providers/provider.js';
import { generateEd25519KeyPair, waitForSsh } from '../../src/ssh/index.js';
import { ensureBaseImage, localTestProvider } from '../support/local-base.js';
import { budgets, testDeadlines, timeoutFor } from '../support/timeouts.js';
import { harness, memoryLogger, REGION, type Harness } from './helpers.js';

/** How long the EC2 provider waits for each state of the instance. */
const waitTimeoutsMs = {
  instanceRunning: 180_000,
  instanceStopped: 60_000,
  instanceTerminated: 60_000,
  imageAvailable: 5_000,
  snapshotCompleted: 5_000,
  volume: 5_000,
  securityGroupDelete: 60_000,
  deviceAppears: 2_000,
};
/** The instance runs (its VM launched by the endpoint), answers SSH, runs a command, is terminated. */
const LAUNCH_SSH_TERMINATE = timeoutFor(
  budgets.launch,
  waitTimeoutsMs.instanceRunning,
  testDeadlines.vmSshReady,
  budgets.sshCommands,
  waitTimeoutsMs.instanceTerminated,
  waitTimeoutsMs.securityGroupDelete,
);

let h: Harness | undefined;
beforeAll(async () => {
  await ensureBaseImage();
}, timeoutFor(budgets.baseImage));
afterAll(async () => {
  await h?.close();
}, timeoutFor(budgets.teardown));

describe('ec2 provider with real VMs behind the endpoint', { timeout: LAUNCH_SSH_TERMINATE }, () => {
  it('launches, reaches the instance over SSH with the pinned host key, and terminates it (QEMU)', async () => {
    const base = await ensureBaseImage();
    const local = localTestProvider();
    const localLedger = await Ledger.create(
      join(await mkdtemp(join(tmpdir(), 'ovenproof-ec2-vm-')), 'ledger.json'),
      'vm',
    );
    const localCtx: RunContext = {
      runId: 'ec2-vm',
      expiresAt: new Date(Date.now() + 3600_000),
      journal: localLedger,
      signal: new AbortController().signal,
      log: memoryLogger(),
      progress: () => undefined,
      tags: {},
    };
    const sshPort = 20_000 + Math.floor(Math.random() * 20_000);
    h = await harness({
      provider: {
        sshPort,
        waitTimeoutsMs,
      },
      endpoint: {
        sshPort,
        onRunInstances: async ({ userData }) => {
          const parsed = parseUserData(userData);
          const info = await local.launch(localCtx, {
            imageId: base.id,
            purpose: 'test',
            identity: {
              hostname: parsed.hostname!,
              authorizedKey: parsed.authorizedKeys[0]!,
              hostKeyPrivate: parsed.hostKeyPrivate!,
              hostKeyPublic: parsed.hostKeyPublic!,
            },
            ttlMs: (parsed.shutdownMinutes ?? 10) * 60_000,
            sshUser: 'root',
          });
          return {
            port: info.port,
            stop: () => local.terminate(localCtx, info.id),
            consoleOutput: () => local.consoleOutput(info.id),
          };
        },
      },
    });
    const ami = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    const client = generateEd25519KeyPair('client');
    const host = generateEd25519KeyPair('host');
    const info = await h.provider.launch(h.ctx, {
      imageId: ami,
      purpose: 'test',
      identity: {
        hostname: 'ovenproof-ec2-vm',
        authorizedKey: client.publicKey,
        hostKeyPrivate: host.privateKey,
        hostKeyPublic: host.publicKey,
      },
      ttlMs: 10 * 60_000,
      sshUser: 'root',
    });
    expect(info.host).toMatch(/^127\.1\./);
    const session = await waitForSsh(
      {
        host: info.host,
        port: info.port,
        user: info.user,
        privateKey: client.privateKey,
        hostKeyPublic: info.hostKeyPublic,
      },
      { timeoutMs: testDeadlines.vmSshReady },
    );
    let out = '';
    const result = await session.exec('hostname', { onStdout: (t) => (out += t) });
    await session.close();
    expect(result.exitCode).toBe(0);
    expect(out.trim()).toBe('ovenproof-ec2-vm');

    await h.provider.terminate(h.ctx, info.id);
    expect(h.ec2.live()).toEqual([]);
    expect(h.ledger.live()).toEqual([]);
    // The VM behind the instance is gone too.
    expect(localLedger.live().filter((e) => e.kind === 'instance' || e.kind === 'process')).toEqual([]);
  });
});
