import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile, access, mkdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore, matches, parseImageQuery } from '../../src/providers/local/store.js';
import { localPaths, type LocalPaths } from '../../src/providers/local/paths.js';
import { acquireFileLock } from '../../src/common/host/lock.js';
import type { ImageManifest } from '../../src/providers/provider.js';

let home: string;
let paths: LocalPaths;
let store: ImageStore;

async function fakeFiles(tag: string) {
  const dir = join(home, 'src-' + tag);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'disk.raw'), 'disk ' + tag);
  await writeFile(join(dir, 'vmlinuz'), 'kernel');
  await writeFile(join(dir, 'initrd.img'), 'initrd');
  return { disk: join(dir, 'disk.raw'), kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img') };
}

function manifest(name: string, extra: Partial<ImageManifest> = {}): Omit<ImageManifest, 'id' | 'createdAt'> {
  return {
    name,
    os: 'debian-12',
    arch: 'x86_64',
    parent: null,
    packages: { jq: '1.6-2.1', systemd: '252.38-1' },
    bakeKey: null,
    tags: {},
    ...extra,
  };
}

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'ovenproof-store-'));
  paths = localPaths(home);
  store = new ImageStore(paths);
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('local image store', () => {
  it('registers an image atomically with read-only files and reads it back', async () => {
    const image = await store.register(manifest('debian-12'), await fakeFiles('a'));
    expect(image.id).toMatch(/^img-[0-9a-f]{12}$/);
    expect(await store.describe(image.id)).toEqual(image);
    const files = store.files(image.id);
    for (const f of [files.disk, files.kernel, files.initrd]) {
      expect((await stat(f)).mode & 0o777).toBe(0o444);
    }
    expect(await readFile(files.disk, 'utf8')).toBe('disk a');
    expect(image.sizes?.diskBytes).toBe(6);
    // No staging folder is left behind.
    expect((await import('node:fs/promises')).readdir(paths.images)).resolves.not.toContainEqual(
      expect.stringMatching(/^\.staging/),
    );
  });

  it('lists newest first and filters by id, name, key=value, package and bake key', async () => {
    const a = await store.register(manifest('debian-12'), await fakeFiles('a'));
    await new Promise((r) => setTimeout(r, 5));
    const b = await store.register(
      manifest('baked', {
        parent: a.id,
        bakeKey: 'k1',
        tags: { 'ovenproof:kept': 'true' },
        packages: { jq: '1.6' },
      }),
      await fakeFiles('b'),
    );
    expect((await store.list()).map((i) => i.id)).toEqual([b.id, a.id]);
    expect((await store.list({ idOrName: a.id })).map((i) => i.id)).toEqual([a.id]);
    expect((await store.list({ idOrName: 'baked' })).map((i) => i.id)).toEqual([b.id]);
    expect((await store.list({ bakeKey: 'k1' })).map((i) => i.id)).toEqual([b.id]);
    expect((await store.list({ filters: { parent: a.id } })).map((i) => i.id)).toEqual([b.id]);
    expect((await store.list({ filters: { parent: 'null' } })).map((i) => i.id)).toEqual([a.id]);
    expect((await store.list({ filters: { 'ovenproof:kept': 'true' } })).map((i) => i.id)).toEqual([b.id]);
    expect((await store.list({ filters: { 'package:systemd': '*' } })).map((i) => i.id)).toEqual([a.id]);
    expect(await store.list({ filters: { os: 'ubuntu-24.04' } })).toEqual([]);
  });

  it('parses image queries from words and rejects two names', () => {
    expect(parseImageQuery('debian-12')).toEqual({ idOrName: 'debian-12' });
    expect(parseImageQuery('os=debian-12 package:jq=*')).toEqual({
      filters: { os: 'debian-12', 'package:jq': '*' },
    });
    expect(() => parseImageQuery('a b')).toThrow(/more than one id or name \(a, b\)/);
    const image = { ...manifest('x'), id: 'img-1', createdAt: '' } as ImageManifest;
    expect(matches(image, parseImageQuery('x os=debian-12'))).toBe(true);
    expect(matches(image, parseImageQuery('x os=debian-11'))).toBe(false);
  });

  it('tags and untags under the lock without losing concurrent updates', async () => {
    const image = await store.register(manifest('debian-12'), await fakeFiles('a'));
    await Promise.all(Array.from({ length: 12 }, (_, i) => store.tag(image.id, { [`t${i}`]: String(i) })));
    const tagged = await store.describe(image.id);
    expect(Object.keys(tagged!.tags).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `t${i}`).sort());
    await store.tag(image.id, { kept: 'true' }, ['t0', 't1']);
    const after = await store.describe(image.id);
    expect(after!.tags.t0).toBeUndefined();
    expect(after!.tags.kept).toBe('true');
  });

  it('deregisters idempotently and reports unknown or unsafe ids clearly', async () => {
    const image = await store.register(manifest('debian-12'), await fakeFiles('a'));
    expect(await store.deregister(image.id)).toBe(true);
    expect(await store.deregister(image.id)).toBe(false);
    await expect(access(store.files(image.id).dir, constants.F_OK)).rejects.toThrow();
    expect(await store.describe('../etc')).toBeNull();
    await expect(store.require('img-000000000000')).rejects.toThrow(
      /local image img-000000000000 does not exist/,
    );
    expect(() => store.files('../../x')).toThrow(/invalid local image id/);
  });

  it('the store lock excludes a second holder until released, also across processes', async () => {
    const first = await acquireFileLock(paths.storeLock);
    const order: string[] = [];
    const second = acquireFileLock(paths.storeLock).then((l) => {
      order.push('second');
      return l;
    });
    await new Promise((r) => setTimeout(r, 200));
    order.push('first-release');
    await first.release();
    await (await second).release();
    expect(order).toEqual(['first-release', 'second']);
    // Another ovenproof process holds the lock and is SIGKILLed mid-way: the kernel frees the lock.
    const code = `import { acquireFileLock } from ${JSON.stringify(new URL('../../src/common/host/lock.ts', import.meta.url).pathname)};
      await acquireFileLock(${JSON.stringify(paths.storeLock)}); console.log('held'); setInterval(() => {}, 1000);`;
    const holder = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((r) => holder.stdout.once('data', r));
    await expect(acquireFileLock(paths.storeLock, 1000)).rejects.toThrow(/could not lock .* within 1000 ms/);
    holder.kill('SIGKILL');
    const third = await acquireFileLock(paths.storeLock, 10_000);
    await third.release();
    expect(execFileSync('flock', ['-n', paths.storeLock, 'true']).length).toBe(0);
  });
});
