import { describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseCommand } from '../../src/cli/commands/base.js';
import { imagesCommand, makeImagesCommand } from '../../src/cli/commands/images.js';
import { ImageStore } from '../../src/providers/local/store.js';
import { localPaths } from '../../src/providers/local/paths.js';
import type { ImageManifest, Provider } from '../../src/providers/provider.js';
import { captureIo } from '../support/cli-io.js';

const io = (env: NodeJS.ProcessEnv = {}) => captureIo({ env });

async function homeWithImage(): Promise<{ home: string; image: ImageManifest }> {
  const home = await mkdtemp(join(tmpdir(), 'ovenproof-cli-'));
  const src = join(home, 'src');
  await mkdir(src);
  for (const f of ['disk.raw', 'vmlinuz', 'initrd.img']) await writeFile(join(src, f), f);
  const image = await new ImageStore(localPaths(home)).register(
    {
      name: 'debian-12',
      os: 'debian-12',
      arch: 'x86_64',
      parent: null,
      packages: { jq: '1.6' },
      bakeKey: null,
      tags: { 'ovenproof:kept': 'true' },
    },
    { disk: join(src, 'disk.raw'), kernel: join(src, 'vmlinuz'), initrd: join(src, 'initrd.img') },
  );
  return { home, image };
}

describe('ovenproof images', () => {
  it('lists the local store as JSON and as a table, filtered by a query', async () => {
    const { home, image } = await homeWithImage();
    const json = io({ OVENPROOF_HOME: home });
    expect(await imagesCommand.run(['--json'], json.io)).toBe(0);
    expect(JSON.parse(json.stdout())).toEqual([image]);

    const table = io({ OVENPROOF_HOME: home });
    expect(await imagesCommand.run(['--provider', 'local'], table.io)).toBe(0);
    expect(table.stdout()).toMatch(
      new RegExp(`^ID\\s+NAME\\s+OS.*\\n${image.id}\\s+debian-12\\s+debian-12\\s+-\\s+`, 's'),
    );
    expect(table.stdout()).toContain(' yes');

    const none = io({ OVENPROOF_HOME: home });
    expect(await imagesCommand.run(['--json', 'os=ubuntu-24.04'], none.io)).toBe(0);
    expect(JSON.parse(none.stdout())).toEqual([]);
  });

  it('takes the provider from the factory it is given (ec2 plugs in there)', async () => {
    const asked: string[] = [];
    const fake = {
      name: 'ec2',
      listImages: async (query: unknown) => {
        asked.push(JSON.stringify(query));
        return [];
      },
    } as unknown as Provider;
    const command = makeImagesCommand(async (name) => {
      asked.push(name);
      return fake;
    });
    const run = io();
    expect(await command.run(['--provider', 'ec2', '--json', 'ami-123'], run.io)).toBe(0);
    expect(asked).toEqual(['ec2', '{"idOrName":"ami-123"}']);
    expect(run.stdout().trim()).toBe('[]');
  });

  it('rejects an unknown provider and bad flags as usage errors', async () => {
    await expect(imagesCommand.run(['--provider', 'gce'], io().io)).rejects.toMatchObject({
      exitCode: 3,
      message: expect.stringContaining('--provider: "gce" is not a provider'),
    });
    await expect(imagesCommand.run(['--bogus'], io().io)).rejects.toMatchObject({ exitCode: 3 });
  });
});

describe('ovenproof base', () => {
  it('requires the build sub-command and a valid size', async () => {
    await expect(baseCommand.run([], io().io)).rejects.toMatchObject({
      exitCode: 3,
      message: expect.stringContaining('expected the sub-command "build", got nothing'),
    });
    await expect(baseCommand.run(['make'], io().io)).rejects.toMatchObject({ exitCode: 3 });
    await expect(baseCommand.run(['build', '--size', 'huge'], io().io)).rejects.toMatchObject({
      exitCode: 3,
      message: expect.stringContaining('--size "huge" is not a size'),
    });
    await expect(baseCommand.run(['build', '--suite', 'Bad Suite'], io().io)).rejects.toMatchObject({
      exitCode: 3,
    });
    const help = io();
    expect(await baseCommand.run(['--help'], help.io)).toBe(0);
    expect(help.stdout()).toContain('Usage: ovenproof base build');
  });

  it('returns a cached base without building (the cache lookup needs no root)', async () => {
    const { home, image } = await homeWithImage();
    const run = io({ OVENPROOF_HOME: home });
    expect(await baseCommand.run(['build', '--name', 'debian-12', '--json'], run.io)).toBe(0);
    const result = JSON.parse(run.stdout()) as { image: ImageManifest; cacheHit: boolean };
    expect(result.cacheHit).toBe(true);
    expect(result.image.id).toBe(image.id);
  });
});
