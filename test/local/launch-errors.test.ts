import { describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalProvider } from '../../src/providers/local/index.js';
import { testContext, testIdentity } from './helpers.js';

/** QEMU is started for real but cannot boot: the launch must fail clearly and leave nothing behind. */
describe('local launch failures', () => {
  it('names a missing image and journals nothing', async () => {
    const provider = createLocalProvider({ home: await mkdtemp(join(tmpdir(), 'ovenproof-launch-')) });
    const { ctx, ledger } = await testContext();
    const { identity } = testIdentity('x');
    await expect(
      provider.launch(ctx, {
        imageId: 'img-000000000000',
        purpose: 'test',
        identity,
        ttlMs: 60_000,
        sshUser: 'root',
      }),
    ).rejects.toThrow(/local image img-000000000000 does not exist/);
    expect(ledger.entries()).toEqual([]);
  });

  it('reports QEMU refusing to start, removes the overlay and the seed with the keys', async () => {
    const home = await mkdtemp(join(tmpdir(), 'ovenproof-launch-'));
    const provider = createLocalProvider({ home });
    const src = join(home, 'src');
    await mkdir(src);
    // A raw disk and a "kernel" that is not one: QEMU exits at once with an error.
    await writeFile(join(src, 'disk.raw'), Buffer.alloc(1024 * 1024));
    await writeFile(join(src, 'vmlinuz'), 'not a kernel');
    await writeFile(join(src, 'initrd.img'), 'not an initrd');
    const image = await provider.store.register(
      {
        name: 'broken',
        os: 'debian-12',
        arch: 'x86_64',
        parent: null,
        packages: {},
        bakeKey: null,
        tags: {},
      },
      { disk: join(src, 'disk.raw'), kernel: join(src, 'vmlinuz'), initrd: join(src, 'initrd.img') },
    );
    const { ctx, ledger } = await testContext();
    const { identity } = testIdentity('x');
    await expect(
      provider.launch(ctx, { imageId: image.id, purpose: 'test', identity, ttlMs: 60_000, sshUser: 'root' }),
    ).rejects.toThrow(/QEMU for instance i-[0-9a-f]+ exited at start \(exit \d+\): .*(kernel|linux)/is);
    expect(await readdir(provider.paths.instances)).toEqual([]);
    expect(ledger.live()).toEqual([]);
    expect(ledger.entries().map((e) => [e.kind, e.state])).toEqual([['instance', 'deleted']]);
  });
});
