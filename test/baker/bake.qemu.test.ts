/**
 * (QEMU) Acceptance of the baker on the local provider: a .deb built on the fly plus `jq` from the
 * distribution, baked by the volume strategy and by the instance strategy; each result is inspected
 * offline (debugfs) and booted, and checked over SSH with the host key pinned.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bakeImage, INSTANCE_STEP_NAMES, type BakeOutcome, type BakeRequest } from '../../src/baker/index.js';
import { Ledger } from '../../src/pipeline/ledger.js';
import type {
  ImageManifest,
  InstanceIdentity,
  InstanceInfo,
  RunContext,
} from '../../src/providers/provider.js';
import { generateEd25519KeyPair, waitForSsh, type SshSession } from '../../src/ssh/index.js';
import { ensureBaseImage, localTestProvider } from '../support/local-base.js';
import { INSTANCE_BAKE, VM_BOOT, budgets, testDeadlines, timeoutFor } from '../support/timeouts.js';
import { startBakeChild } from './helpers/child-runner.js';
import { testContext } from './helpers/context.js';
import { hygieneFindings } from './helpers/image-inspect.js';
import { leftovers } from './helpers/leftovers.js';
import { MARKER_DATA_FILE, MARKER_FILE, buildMarkerDeb } from './helpers/test-deb.js';

const provider = localTestProvider();
const work = mkdtempSync(join(tmpdir(), 'ovenproof-bake-qemu-'));
const instances: string[] = [];
const images: string[] = [];
let base: ImageManifest;
let deb: string;
let ctx: RunContext;

interface Booted {
  info: InstanceInfo;
  identity: InstanceIdentity;
  clientPublic: string;
  session: SshSession;
}

function request(strategy: 'volume' | 'instance', tag: string): BakeRequest {
  // A provisioning script unique to this run keeps earlier runs' images from answering as cache hits.
  return {
    baseImage: base.id,
    packageFiles: [deb],
    packages: ['jq'],
    provisionScript: `# bake.qemu ${tag} ${Date.now()}\ntrue`,
    strategy,
    sshUser: 'root',
  };
}

async function boot(imageId: string, name: string): Promise<Booted> {
  const client = generateEd25519KeyPair(`test-${name}`);
  const host = generateEd25519KeyPair(`host-${name}`);
  const identity: InstanceIdentity = {
    hostname: `${name}-${Math.random().toString(36).slice(2, 8)}`,
    authorizedKey: client.publicKey,
    hostKeyPrivate: host.privateKey,
    hostKeyPublic: host.publicKey,
  };
  const info = await provider.launch(ctx, {
    imageId,
    purpose: 'test',
    identity,
    ttlMs: 15 * 60_000,
    sshUser: 'root',
  });
  instances.push(info.id);
  const session = await waitForSsh(
    {
      host: info.host,
      port: info.port,
      user: info.user,
      privateKey: client.privateKey,
      hostKeyPublic: info.hostKeyPublic,
      ...(info.networkProbe ? { networkProbe: info.networkProbe } : {}),
    },
    { timeoutMs: testDeadlines.vmSshReady },
  );
  return { info, identity, clientPublic: client.publicKey, session };
}

async function run(session: SshSession, command: string): Promise<string> {
  let out = '';
  let err = '';
  const result = await session.exec(command, { onStdout: (t) => (out += t), onStderr: (t) => (err += t) });
  if (result.exitCode !== 0) throw new Error(`${command} exited ${result.exitCode}: ${err}`);
  return out;
}

/** What every instance of a baked image must show, whatever the strategy. */
async function checkInstance(vm: Booted): Promise<{ machineId: string; bootId: string; marker: string[] }> {
  const s = vm.session;
  expect(await run(s, "dpkg-query -W -f '${Package} ${Status}\\n' jq ovenproof-marker")).toBe(
    'jq install ok installed\novenproof-marker install ok installed\n',
  );
  expect(await run(s, 'jq -n 1+1')).toBe('2\n');
  expect(await run(s, `cat ${MARKER_DATA_FILE}`)).toContain('hello from ovenproof-marker');
  expect((await run(s, 'hostname')).trim()).toBe(vm.identity.hostname);
  // The only host key is the run's (the SSH session itself already verified it was presented).
  expect((await run(s, 'ls /etc/ssh/ | grep ^ssh_host_ || true')).trim().split('\n')).toEqual([
    'ssh_host_ed25519_key',
    'ssh_host_ed25519_key.pub',
  ]);
  expect((await run(s, 'cat /etc/ssh/ssh_host_ed25519_key.pub')).trim()).toBe(
    vm.identity.hostKeyPublic.trim(),
  );
  // The only authorized key is the run's: no build-time key survived.
  expect((await run(s, 'cat /root/.ssh/authorized_keys')).trim()).toBe(vm.clientPublic.trim());
  const machineId = (await run(s, 'cat /etc/machine-id')).trim();
  expect(machineId).toMatch(/^[0-9a-f]{32}$/);
  const bootId = (await run(s, 'cat /proc/sys/kernel/random/boot_id')).trim();
  const marker = (await run(s, `cat ${MARKER_FILE} 2>/dev/null || true`)).trim().split('\n').filter(Boolean);
  // The service is enabled and started at this boot.
  expect(marker).toContain(bootId);
  return { machineId, bootId, marker };
}

/** The base image and the marker package. */
const SETUP = timeoutFor(budgets.baseImage, budgets.build);

beforeAll(async () => {
  base = await ensureBaseImage();
  deb = buildMarkerDeb(work);
  ctx = (await testContext(join(work, 'ledger.json'))).ctx;
}, SETUP);

afterAll(async () => {
  for (const id of instances) await provider.terminate(ctx, id).catch(() => undefined);
  for (const id of images) await provider.deregisterImage(ctx, id).catch(() => undefined);
}, timeoutFor(budgets.teardown));

/** The volume bake and two instances of its image, booted side by side. */
const VOLUME_BAKE_AND_TWO_BOOTS = timeoutFor(
  budgets.volumeBake,
  VM_BOOT,
  budgets.sshCommands,
  budgets.sshCommands,
  budgets.teardown,
);
/** The instance bake and one instance of its image. */
const INSTANCE_BAKE_AND_A_BOOT = timeoutFor(INSTANCE_BAKE, VM_BOOT, budgets.sshCommands, budgets.teardown);
/** The longest of the tests below. */
const BAKE_TEST = Math.max(VOLUME_BAKE_AND_TWO_BOOTS, INSTANCE_BAKE_AND_A_BOOT);

describe('baking on the local provider (QEMU)', { timeout: BAKE_TEST }, () => {
  let volumeBake: BakeOutcome;
  let volumeRequest: BakeRequest;
  const machineIds: string[] = [];

  it('volume bake: both packages, no service start at bake time, a clean image, distinct instances (QEMU)', async () => {
    volumeRequest = request('volume', 'volume');
    volumeBake = await bakeImage(provider, volumeRequest, ctx);
    images.push(volumeBake.image.id);
    expect(volumeBake.strategy).toBe('volume');
    expect(volumeBake.image.packages['ovenproof-marker']).toBe('1.0');
    expect(volumeBake.image.packages['jq']).toBeDefined();
    const disk = provider.store.files(volumeBake.image.id).disk;
    expect(hygieneFindings(disk)).toEqual([]);

    const [a, b] = await Promise.all([
      boot(volumeBake.image.id, 'vol-a'),
      boot(volumeBake.image.id, 'vol-b'),
    ]);
    const ra = await checkInstance(a);
    const rb = await checkInstance(b);
    // Only the instance's own boot ever started the service: nothing ran inside the chroot.
    expect(ra.marker).toEqual([ra.bootId]);
    expect(rb.marker).toEqual([rb.bootId]);
    expect(ra.machineId).not.toBe(rb.machineId);
    expect(a.identity.hostname).not.toBe(b.identity.hostname);
    expect(a.identity.hostKeyPublic).not.toBe(b.identity.hostKeyPublic);
    machineIds.push(ra.machineId, rb.machineId);
    await a.session.close();
    await b.session.close();
    for (const vm of [a, b]) await provider.terminate(ctx, vm.info.id);
  });

  it('a second bake of the same request is a cache hit (QEMU)', async () => {
    const again = await bakeImage(provider, volumeRequest, ctx);
    expect(again.cacheHit).toBe(true);
    expect(again.image.id).toBe(volumeBake.image.id);
  });

  it('instance bake: same packages, same manifest shape, a clean image (QEMU)', async () => {
    const labels: string[] = [];
    const own = await testContext(join(work, 'instance-ledger.json'), {
      onProgress: (p) => labels.push(p.label),
    });
    const baked = await bakeImage(provider, request('instance', 'instance'), own.ctx);
    images.push(baked.image.id);
    expect(baked.strategy).toBe('instance');
    expect(baked.image.parent).toBe(base.id);
    expect(baked.image.bakeKey).toBe(baked.bakeKey);
    expect(Object.keys(baked.image).sort()).toEqual(Object.keys(volumeBake.image).sort());
    expect(baked.image.packages['ovenproof-marker']).toBe('1.0');
    expect(baked.image.packages['jq']).toBe(volumeBake.image.packages['jq']);
    for (const step of INSTANCE_STEP_NAMES) expect(baked.durationsMs[step], step).toBeGreaterThanOrEqual(0);
    expect(labels).toEqual(
      expect.arrayContaining(['Launching builder', 'Waiting for SSH', 'Installing packages']),
    );
    // The builder is gone and nothing of the bake is live except the image.
    expect(own.ledger.live().filter((e) => e.kind !== 'image')).toEqual([]);
    expect(hygieneFindings(provider.store.files(baked.image.id).disk)).toEqual([]);

    const vm = await boot(baked.image.id, 'inst');
    const result = await checkInstance(vm);
    expect(machineIds).not.toContain(result.machineId);
    await vm.session.close();
    await provider.terminate(ctx, vm.info.id);
  });

  // One kill per distinct set of live resources: a starting VM, a builder up over SSH (the install
  // step adds packages inside it, not resources outside), and a builder with its image being made.
  it.each(['launch', 'ssh', 'create-image'])(
    'instance bake leaves no VM, disk or temp file when SIGKILLed after step "%s" and swept (QEMU)',
    async (step) => {
      const ledgerPath = join(work, `kill-${step}.json`);
      const bake = startBakeChild({
        ledger: ledgerPath,
        request: request('instance', `kill-${step}`),
        holdAfter: step,
      });
      await bake.waitFor([`HOLD ${step}`]);
      bake.child.kill('SIGKILL');
      await bake.exited;
      const entries = (await Ledger.open(ledgerPath)).entries();
      expect(entries.some((e) => e.kind === 'instance')).toBe(true);
      images.push(...entries.filter((e) => e.kind === 'image' && e.id).map((e) => e.id!));
      await provider.sweep({ dryRun: false }, ctx.log);
      expect(leftovers(provider.paths.home, entries, bake.child.pid!)).toEqual([]);
    },
    // The last hold comes after the whole instance bake; the sweep follows.
    timeoutFor(INSTANCE_BAKE, budgets.teardown),
  );
});
