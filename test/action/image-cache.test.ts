/**
 * The Actions cache persistence of local images, through the real @actions/cache against the local
 * stand-in of the cache service (Twirp endpoints + Azurite blob storage): save from one store, restore
 * into an empty one, as two jobs on fresh runners would.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionsImageCache } from '../../src/action/image-cache.js';
import type { Logger } from '../../src/common/log.js';
import { localPaths } from '../../src/providers/local/paths.js';
import { ImageStore } from '../../src/providers/local/store.js';
import { startCacheStandIn, type CacheStandIn } from '../support/actions-cache.js';

const work = mkdtempSync(join(tmpdir(), 'ovenproof-image-cache-'));
const staging = join(work, 'runner-temp');
let service: CacheStandIn;
const saved: Record<string, string | undefined> = {};
const messages: string[] = [];
const log: Logger = {
  info: (m) => messages.push(m),
  warn: (m) => messages.push(`warning: ${m}`),
  debug: () => undefined,
  mask: () => undefined,
};

beforeAll(async () => {
  service = await startCacheStandIn();
  const env = { ...service.env, GITHUB_WORKSPACE: join(work, 'workspace'), RUNNER_TEMP: staging };
  mkdirSync(env.GITHUB_WORKSPACE, { recursive: true });
  for (const [name, value] of Object.entries(env)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
}, 120_000);

afterAll(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await service?.close();
  rmSync(work, { recursive: true, force: true });
});

let homes = 0;
function emptyHome(): { home: string; store: ImageStore } {
  const home = join(work, `home-${++homes}`);
  mkdirSync(join(home, 'images'), { recursive: true });
  return { home, store: new ImageStore(localPaths(home)) };
}

/** A registered image with a 256 MiB sparse disk holding a little data at two offsets. */
async function fakeImage(
  store: ImageStore,
  manifest: { name: string; parent: string | null; bakeKey: string | null; tags: Record<string, string> },
) {
  const dir = join(work, `files-${Math.random().toString(16).slice(2)}`);
  mkdirSync(dir);
  const disk = join(dir, 'disk.raw');
  execFileSync('truncate', ['-s', '256M', disk]);
  execFileSync('dd', ['if=/dev/urandom', `of=${disk}`, 'bs=64k', 'count=4', 'seek=100', 'conv=notrunc'], {
    stdio: 'ignore',
  });
  writeFileSync(join(dir, 'vmlinuz'), 'kernel');
  writeFileSync(join(dir, 'initrd.img'), 'initrd');
  return store.register(
    { ...manifest, os: 'debian-12', arch: 'x86_64', packages: { jq: '1.6' } },
    { disk, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img') },
  );
}

const sha = (path: string) => execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0];

describe('Actions cache of local images', () => {
  it('saves a bake image and a fresh store restores it, sparse, with a new expiry', async () => {
    const first = emptyHome();
    const bakeKey = 'a'.repeat(64);
    const image = await fakeImage(first.store, {
      name: 'debian-12-hello',
      parent: 'img-000000000001',
      bakeKey,
      tags: { 'ovenproof:expires-at': '2020-01-01T00:00:00Z' },
    });
    const cacheOne = new ActionsImageCache({
      home: first.home,
      stagingRoot: staging,
      cacheTtlMs: 3_600_000,
      log,
    });
    expect(await cacheOne.saveImages([image.id, null, 'img-doesnotexist'])).toEqual([
      `ovenproof-bake-${bakeKey}`,
    ]);
    // Saving again finds the entry and uploads nothing.
    const creates = service.calls.filter((c) => c.method === 'CreateCacheEntry').length;
    expect(
      await new ActionsImageCache({ home: first.home, stagingRoot: staging, cacheTtlMs: 1, log }).saveImages([
        image.id,
      ]),
    ).toEqual([]);
    expect(service.calls.filter((c) => c.method === 'CreateCacheEntry').length).toBe(creates);

    const second = emptyHome();
    const cacheTwo = new ActionsImageCache({
      home: second.home,
      stagingRoot: staging,
      cacheTtlMs: 3_600_000,
      log,
    });
    expect(await cacheTwo.restoreBake('b'.repeat(64))).toBe(false);
    const before = Date.now();
    expect(await cacheTwo.restoreBake(bakeKey)).toBe(true);
    const restored = await second.store.require(image.id);
    expect(restored).toMatchObject({
      name: image.name,
      parent: image.parent,
      bakeKey,
      packages: { jq: '1.6' },
    });
    // The stale expiry of the saved copy is replaced: the entry lives cache-ttl from its restore.
    const expiry = Date.parse(restored.tags['ovenproof:expires-at']!);
    expect(expiry).toBeGreaterThan(before + 3_500_000);
    const from = first.store.files(image.id);
    const to = second.store.files(image.id);
    expect(sha(to.disk)).toBe(sha(from.disk));
    expect(readFileSync(to.kernel, 'utf8')).toBe('kernel');
    // Still sparse: 256 MiB long, a few hundred KiB allocated.
    expect(statSync(to.disk).size).toBe(256 * 1024 * 1024);
    expect(statSync(to.disk).blocks * 512).toBeLessThan(8 * 1024 * 1024);
    // Already present: nothing to restore.
    expect(await cacheTwo.restoreBake(bakeKey)).toBe(false);
  }, 300_000);

  it('stores exactly one image folder per entry: manifest, disk, kernel, initrd', async () => {
    const { home, store } = emptyHome();
    const image = await fakeImage(store, {
      name: 'debian-12-probe',
      parent: 'img-000000000002',
      bakeKey: 'c'.repeat(64),
      tags: {},
    });
    // Things that live in the home but must never reach the cache.
    mkdirSync(join(home, 'instances', 'vm-1'), { recursive: true });
    writeFileSync(join(home, 'instances', 'vm-1', 'seed.tar'), 'host key');
    const cache = new ActionsImageCache({ home, stagingRoot: staging, cacheTtlMs: 1000, log });
    const [key] = await cache.saveImages([image.id]);
    const archive = join(work, 'entry.tar.zst');
    writeFileSync(archive, await service.download(key!));
    const outer = execFileSync('tar', ['--zstd', '-tf', archive], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l && !l.endsWith('/'));
    expect(outer).toHaveLength(1);
    expect(outer[0]).toMatch(/ovenproof-image-cache\/ovenproof-bake-c{64}\/image\.tar$/);
    const inner = execFileSync(
      'sh',
      ['-c', `tar --zstd -P -xOf "$1" "$2" | tar -tf -`, 'sh', archive, outer[0]!],
      { encoding: 'utf8' },
    );
    expect(inner.split('\n').filter(Boolean).sort()).toEqual(
      [
        `${image.id}/`,
        `${image.id}/disk.raw`,
        `${image.id}/initrd.img`,
        `${image.id}/manifest.json`,
        `${image.id}/vmlinuz`,
      ].sort(),
    );
  }, 300_000);

  it('restores the base by its recipe key and refuses an entry holding another image', async () => {
    const first = emptyHome();
    const base = await fakeImage(first.store, {
      name: 'debian-12',
      parent: null,
      bakeKey: null,
      tags: { 'ovenproof:kept': 'true' },
    });
    const cacheOne = new ActionsImageCache({ home: first.home, stagingRoot: staging, cacheTtlMs: 1000, log });
    const [key] = await cacheOne.saveImages([base.id]);
    expect(key).toBe(await ActionsImageCache.baseEntry('debian-12'));
    expect(key).toMatch(/^ovenproof-base-debian-12-[0-9a-f]{32}$/);

    const second = emptyHome();
    const cacheTwo = new ActionsImageCache({
      home: second.home,
      stagingRoot: staging,
      cacheTtlMs: 1000,
      log,
    });
    expect(await cacheTwo.restoreBase('debian-12')).toBe(true);
    const restored = await second.store.require(base.id);
    expect(restored.tags).toEqual({ 'ovenproof:kept': 'true' });
    // A base is already there: the next job does not download it again.
    expect(await cacheTwo.restoreBase('debian-12')).toBe(false);

    // An entry whose key names another base (a recipe for "debian-13") but holds this one is refused.
    const wrongKey = await ActionsImageCache.baseEntry('debian-13');
    const dir = join(staging, 'ovenproof-image-cache', wrongKey);
    mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-S', '-cf', join(dir, 'image.tar'), '-C', join(first.home, 'images'), base.id]);
    const { saveCache } = await import('@actions/cache');
    await saveCache([dir], wrongKey);
    const third = emptyHome();
    const cacheThree = new ActionsImageCache({
      home: third.home,
      stagingRoot: staging,
      cacheTtlMs: 1000,
      log,
    });
    expect(await cacheThree.restoreBase('debian-13')).toBe(false);
    expect(messages.join('\n')).toMatch(
      /could not restore ovenproof-base-debian-13-\w+ .*not the one its key names/,
    );
    expect(await third.store.list()).toEqual([]);
  }, 300_000);
});
