/**
 * `ovenproof images prune` on a real local image store: only unpromoted bake-cache images go, never a
 * base, a promoted image or an image a run holds a lease on; --older-than, --keep-last and --dry-run.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imagesCommand } from '../../src/cli/commands/images.js';
import { localPaths } from '../../src/providers/local/paths.js';
import { ImageStore } from '../../src/providers/local/store.js';
import { captureIo } from '../support/cli-io.js';

const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const inHours = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

async function storeWithImages() {
  const home = await mkdtemp(join(tmpdir(), 'ovenproof-prune-'));
  const store = new ImageStore(localPaths(home));
  let n = 0;
  const add = async (
    name: string,
    parent: string | null,
    bakeKey: string | null,
    tags: Record<string, string>,
  ) => {
    const src = join(home, `src-${++n}`);
    await mkdir(src);
    for (const f of ['disk.raw', 'vmlinuz', 'initrd.img']) await writeFile(join(src, f), f);
    const image = await store.register(
      { name, os: 'debian-12', arch: 'x86_64', parent, packages: {}, bakeKey, tags },
      { disk: join(src, 'disk.raw'), kernel: join(src, 'vmlinuz'), initrd: join(src, 'initrd.img') },
    );
    return image.id;
  };
  const base = await add('debian-12', null, null, { 'ovenproof:kept': 'true' });
  const ids = {
    base,
    promoted: await add('promoted', base, '1'.repeat(64), {
      'ovenproof:kept': 'true',
      'ovenproof:last-used-at': hoursAgo(100),
    }),
    fresh: await add('fresh', base, '2'.repeat(64), {
      'ovenproof:expires-at': inHours(160),
      'ovenproof:last-used-at': hoursAgo(1),
    }),
    older: await add('older', base, '3'.repeat(64), {
      'ovenproof:expires-at': inHours(100),
      'ovenproof:last-used-at': hoursAgo(30),
    }),
    oldest: await add('oldest', base, '4'.repeat(64), {
      'ovenproof:expires-at': inHours(10),
      'ovenproof:last-used-at': hoursAgo(50),
    }),
    leased: await add('leased', base, '5'.repeat(64), {
      'ovenproof:expires-at': inHours(10),
      'ovenproof:last-used-at': hoursAgo(60),
      'ovenproof:lease:op-running': inHours(1),
    }),
    staleLease: await add('stale-lease', base, '6'.repeat(64), {
      'ovenproof:expires-at': inHours(10),
      'ovenproof:last-used-at': hoursAgo(70),
      'ovenproof:lease:op-dead': hoursAgo(2),
    }),
  };
  return { home, store, ids };
}

async function prune(home: string, ...args: string[]) {
  const run = captureIo({ env: { OVENPROOF_HOME: home } });
  const code = await imagesCommand.run(['prune', '--provider', 'local', '--json', ...args], run.io);
  return {
    code,
    decisions: JSON.parse(run.stdout()) as Array<{ id: string; action: string; reason: string }>,
    stderr: run.stderr(),
  };
}

const remaining = async (store: ImageStore) => (await store.list()).map((i) => i.id).sort();

describe('ovenproof images prune', () => {
  it('--dry-run lists unpromoted cache images and deletes nothing', async () => {
    const { home, store, ids } = await storeWithImages();
    const before = await remaining(store);
    const { code, decisions, stderr } = await prune(home, '--dry-run');
    expect(code).toBe(0);
    expect(await remaining(store)).toEqual(before);
    const byId = Object.fromEntries(decisions.map((d) => [d.id, d]));
    expect(Object.keys(byId).sort()).toEqual(
      [ids.fresh, ids.older, ids.oldest, ids.leased, ids.staleLease].sort(),
    );
    expect(byId[ids.leased]).toMatchObject({ action: 'kept', reason: 'in use by run op-running' });
    expect(byId[ids.staleLease]!.action).toBe('would-delete');
    expect(stderr).toContain('would delete 4 of 5 unpromoted bake-cache image(s)');
  });

  it('--older-than keeps recently used images; --keep-last keeps the newest N', async () => {
    const { home, store, ids } = await storeWithImages();
    await prune(home, '--older-than', '1d');
    expect(await remaining(store)).toEqual([ids.base, ids.promoted, ids.fresh, ids.leased].sort());
    const again = await storeWithImages();
    await prune(again.home, '--keep-last', '2');
    expect(await remaining(again.store)).toEqual(
      [again.ids.base, again.ids.promoted, again.ids.fresh, again.ids.older, again.ids.leased].sort(),
    );
  });

  it('--older-than 0s removes every unpromoted, unleased cache image and nothing promoted', async () => {
    const { home, store, ids } = await storeWithImages();
    const { decisions } = await prune(home, '--older-than', '0s');
    expect(decisions.filter((d) => d.action === 'deleted')).toHaveLength(4);
    expect(await remaining(store)).toEqual([ids.base, ids.promoted, ids.leased].sort());
  });

  it('rejects bad flags as usage errors (exit 3)', async () => {
    const { home } = await storeWithImages();
    await expect(prune(home, '--older-than', 'soon')).rejects.toMatchObject({
      exitCode: 3,
      message: expect.stringContaining('--older-than'),
    });
    await expect(prune(home, '--keep-last', '-1')).rejects.toMatchObject({ exitCode: 3 });
    await expect(prune(home, '--provider', 'gce')).rejects.toMatchObject({ exitCode: 3 });
  });
});
