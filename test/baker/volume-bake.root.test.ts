/**
 * (root) The volume bake against the real local provider: loop devices, mounts and chroot, no VM boot.
 * Each bake step is interrupted by SIGKILL in a real child process, then the provider's sweep (what
 * `ovenproof sweep --provider local` runs) must leave nothing behind. Also: the bake cache, the per-key
 * lock between two processes, and the service block that keeps packages from starting daemons.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bakeImage, VOLUME_STEP_NAMES, type BakeRequest } from '../../src/baker/index.js';
import { aptPlugin } from '../../src/baker/os/apt.js';
import { ChrootTarget } from '../../src/baker/target.js';
import { Ledger } from '../../src/pipeline/ledger.js';
import type { ImageManifest } from '../../src/providers/provider.js';
import { ensureBaseImage, localTestProvider } from '../support/local-base.js';
import { budgets, timeoutFor } from '../support/timeouts.js';
import { startBakeChild } from './helpers/child-runner.js';
import { testContext } from './helpers/context.js';
import { leftovers } from './helpers/leftovers.js';
import { buildMarkerDeb } from './helpers/test-deb.js';

const provider = localTestProvider();
const home = provider.paths.home;
const work = mkdtempSync(join(tmpdir(), 'ovenproof-volume-bake-'));
const made: string[] = [];
let base: ImageManifest;
let deb: string;

function request(tag: string): BakeRequest {
  // The provisioning script is part of the bake key: a unique one per case keeps cases from hitting
  // each other's images in the shared store.
  return {
    baseImage: base.id,
    packageFiles: [deb],
    packages: ['jq'],
    provisionScript: `# volume-bake test ${tag} ${Date.now()}\ntrue`,
    strategy: 'volume',
    sshUser: 'root',
  };
}

/** The base image and the marker package. */
const SETUP = timeoutFor(budgets.baseImage, budgets.build);
/** The longest test: two processes bake the same request, one waiting for the other's lock. */
const TWO_VOLUME_BAKES = timeoutFor(budgets.volumeBake, budgets.volumeBake);

beforeAll(async () => {
  base = await ensureBaseImage();
  deb = buildMarkerDeb(work);
}, SETUP);

afterAll(async () => {
  const { ctx } = await testContext(join(work, 'cleanup-ledger.json'));
  for (const id of made) await provider.deregisterImage(ctx, id).catch(() => undefined);
}, timeoutFor(budgets.teardown));

describe('volume bake (root)', { timeout: TWO_VOLUME_BAKES }, () => {
  it('bakes, reuses the image for the same request, and records what it installed (root)', async () => {
    const req = request('cache');
    const first = await testContext(join(work, 'cache-1.json'));
    const baked = await bakeImage(provider, req, first.ctx);
    made.push(baked.image.id);
    expect(baked.cacheHit).toBe(false);
    expect(baked.strategy).toBe('volume');
    expect(baked.image.parent).toBe(base.id);
    expect(baked.image.bakeKey).toBe(baked.bakeKey);
    expect(baked.image.packages['jq']).toMatch(/^\d/);
    expect(baked.image.packages['ovenproof-marker']).toBe('1.0');
    for (const step of VOLUME_STEP_NAMES) expect(baked.durationsMs[step], step).toBeGreaterThanOrEqual(0);
    expect(first.labels).toEqual(
      expect.arrayContaining([
        'Copying base volume',
        'Mounting volume',
        'Installing packages',
        'Unmounting volume',
      ]),
    );
    // Nothing of the bake stays live in its ledger: volume, loop device, mounts, work dir.
    expect(first.ledger.live().filter((e) => e.kind !== 'image')).toEqual([]);

    const second = await testContext(join(work, 'cache-2.json'));
    const hit = await bakeImage(provider, req, second.ctx);
    expect(hit.cacheHit).toBe(true);
    expect(hit.strategy).toBe('cache');
    expect(hit.image.id).toBe(baked.image.id);
    expect(second.ledger.entries()).toEqual([]);
    expect(second.labels).not.toContain('Copying base volume');
  });

  it('makes one image when two processes bake the same request at once (root)', async () => {
    const req = request('concurrent');
    const a = startBakeChild({ ledger: join(work, 'conc-a.json'), request: req });
    const b = startBakeChild({ ledger: join(work, 'conc-b.json'), request: req });
    const [lineA, lineB] = await Promise.all([a.waitFor(['DONE']), b.waitFor(['DONE'])]);
    const outA = JSON.parse(lineA.slice(5)) as { imageId: string; cacheHit: boolean; bakeKey: string };
    const outB = JSON.parse(lineB.slice(5)) as { imageId: string; cacheHit: boolean; bakeKey: string };
    made.push(outA.imageId);
    expect(outB.imageId).toBe(outA.imageId);
    expect([outA.cacheHit, outB.cacheHit].sort()).toEqual([false, true]);
    expect((await provider.listImages({ bakeKey: outA.bakeKey })).map((i) => i.id)).toEqual([outA.imageId]);
  });

  it('blocks service starts during the install and restores them afterwards (root)', async () => {
    // Drives the plugin's scripts by hand on a volume of the base, so the same package can be shown to
    // start its service when nothing blocks it.
    const { ctx } = await testContext(join(work, 'block.json'));
    const volume = await provider.createVolume(ctx, base.id);
    const { device } = await provider.attachVolume(ctx, volume.id);
    const dir = await provider.createWorkDir!(ctx, 'bake-test');
    const root = join(dir, 'root');
    execFileSync('mkdir', ['-p', root]);
    execFileSync('mount', [device, root]);
    // start-stop-daemon scans /proc, as it does in the real bake's chroot.
    execFileSync('mount', ['--bind', '/proc', join(root, 'proc')]);
    try {
      execFileSync('cp', [deb, join(root, 'tmp/marker.deb')]);
      const target = new ChrootTarget(root, aptPlugin.env);
      const marker = join(root, 'var/lib/ovenproof-marker/started');
      await target.sh(aptPlugin.blockServicesScript());
      await target.sh('dpkg -i /tmp/marker.deb');
      expect(() => execFileSync('cat', [marker], { stdio: 'pipe' })).toThrow();
      await target.sh(aptPlugin.unblockServicesScript());
      expect(await target.sh('[ -e /usr/sbin/policy-rc.d ] && echo present || echo absent')).toBe('absent\n');
      expect(await target.sh('dpkg-divert --list | grep -c ovenproof || true')).toBe('0\n');
      // Without the block, the same postinst starts the service right inside the chroot.
      await target.sh('dpkg -i /tmp/marker.deb');
      expect(execFileSync('cat', [marker], { encoding: 'utf8' }).trim()).not.toBe('');
    } finally {
      execFileSync('umount', [join(root, 'proc')]);
      execFileSync('umount', [root]);
      await provider.detachVolume(ctx, volume.id);
      await provider.deleteVolume(ctx, volume.id);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(VOLUME_STEP_NAMES)(
    'leaves nothing behind when SIGKILLed after step "%s" and swept (root)',
    async (step) => {
      const ledgerPath = join(work, `kill-${step}.json`);
      const bake = startBakeChild({ ledger: ledgerPath, request: request(`kill-${step}`), holdAfter: step });
      await bake.waitFor([`HOLD ${step}`]);
      bake.child.kill('SIGKILL');
      await bake.exited;
      const entries = (await Ledger.open(ledgerPath)).entries();
      made.push(...entries.filter((e) => e.kind === 'image' && e.id).map((e) => e.id!));
      // The step's own resources were journaled before they existed.
      expect(entries.length).toBeGreaterThan(0);

      await provider.sweep({ dryRun: false }, ctxLog);
      expect(leftovers(home, entries, bake.child.pid!)).toEqual([]);
    },
  );
});

const ctxLog = {
  info: () => undefined,
  warn: (m: string) => process.stderr.write(`sweep: ${m}\n`),
  debug: () => undefined,
  mask: () => undefined,
};
