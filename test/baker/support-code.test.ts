import { mkdirSync, mkdtempSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CommandError, describeArgv, privilegedArgv, runCommand } from '../../src/common/host/command.js';
import { IndexCache, sourcesDigest } from '../../src/baker/index-cache.js';
import { pickRootPartition } from '../../src/baker/steps/fsck.js';

describe('host commands', () => {
  it('goes through sudo -n only when not root', () => {
    expect(privilegedArgv(['mount', '/dev/loop0', '/mnt'], true)).toEqual(['mount', '/dev/loop0', '/mnt']);
    expect(privilegedArgv(['mount', '/dev/loop0', '/mnt'], false)).toEqual([
      'sudo',
      '-n',
      '--',
      'mount',
      '/dev/loop0',
      '/mnt',
    ]);
  });

  it('reports the command, exit code and stderr tail, cutting scripts to their first line', async () => {
    const error = await runCommand(['sh', '-c', 'echo first >&2\necho boom >&2; exit 3']).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).message).toBe('sh -c echo first >&2… failed (exit 3): first\nboom');
    expect(describeArgv(['x', 'a'.repeat(100)])).toBe(`x ${'a'.repeat(80)}…`);
  });

  it('accepts listed exit codes and names a missing tool', async () => {
    expect((await runCommand(['sh', '-c', 'exit 1'], { okCodes: [1] })).code).toBe(1);
    await expect(runCommand(['no-such-tool-ovenproof'])).rejects.toThrow(
      /no-such-tool-ovenproof is not installed/,
    );
  });
});

describe('package index cache', () => {
  it('keys by the sources text, saves, restores and expires lists', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ovenproof-index-'));
    const cache = new IndexCache({ dir: join(dir, 'cache'), maxAgeMs: 60_000 });
    const digest = sourcesDigest('amd64\ndeb http://deb.debian.org/debian bookworm main\n');
    expect(digest).not.toBe(sourcesDigest('arm64\ndeb http://deb.debian.org/debian bookworm main\n'));
    const lists = join(dir, 'lists');
    mkdirSync(join(lists, 'partial'), { recursive: true });
    writeFileSync(join(lists, 'x_Packages'), 'Package: jq\n');
    writeFileSync(join(lists, 'lock'), '');
    const target = join(dir, 'target');
    mkdirSync(target);
    expect(await cache.restoreLists(digest, target)).toBe(false);
    await cache.saveLists(digest, lists);
    expect(await cache.restoreLists(digest, target)).toBe(true);
    expect(readdirSync(target)).toEqual(['x_Packages']);
    const stale = new IndexCache({ dir: join(dir, 'cache'), maxAgeMs: -1 });
    expect(await stale.restoreLists(digest, target)).toBe(false);
  });

  it('removes staging folders of killed savers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ovenproof-index-'));
    const cache = new IndexCache({ dir, maxAgeMs: 60_000 });
    const digest = sourcesDigest('x');
    const abandoned = join(dir, digest, 'lists.tmp-999999999-1');
    mkdirSync(abandoned, { recursive: true });
    const lists = join(dir, 'src');
    mkdirSync(lists);
    writeFileSync(join(lists, 'y_Packages'), 'p');
    await cache.saveLists(digest, lists);
    expect(existsSync(abandoned)).toBe(false);
  });
});

describe('pickRootPartition', () => {
  it('takes the device itself when it has no partitions, else its largest Linux partition', () => {
    const whole = '/dev/loop3 loop 4294967296\n';
    expect(pickRootPartition(whole, new Map([['/dev/loop3', 'ext4']]), '/dev/loop3')).toBe('/dev/loop3');
    const ebs =
      '/dev/nvme1n1 disk 8589934592\n/dev/nvme1n1p1 part 8480882176\n/dev/nvme1n1p14 part 4194304\n/dev/nvme1n1p15 part 111149056\n';
    const types = new Map([
      ['/dev/nvme1n1p1', 'ext4'],
      ['/dev/nvme1n1p15', 'vfat'],
    ]);
    expect(pickRootPartition(ebs, types, '/dev/nvme1n1')).toBe('/dev/nvme1n1p1');
  });
});
