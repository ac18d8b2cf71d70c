/**
 * Content digests of real .deb files built with dpkg-deb (and, for member order and unknown
 * compressions, assembled with tar and ar the way dpkg-deb lays them out).
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, exitCodeOf } from '../../src/common/errors.js';
import { packageContent } from '../../src/baker/package-digest/index.js';
import { parseControlFields } from '../../src/baker/package-digest/deb.js';

const work = mkdtempSync(join(tmpdir(), 'ovenproof-digest-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let counter = 0;
const CONTROL =
  'Package: digest-probe\nVersion: 1.2-1\nArchitecture: all\nMaintainer: ovenproof tests <tests@example.invalid>\n' +
  'Description: content digest probe\n two lines of description\n';

/** A package tree written fresh (new mtimes every time), like a plain non-reproducible build. */
function sourceTree(change: (root: string) => void = () => undefined): string {
  const root = join(work, `tree-${++counter}`);
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  mkdirSync(join(root, 'usr/share/doc/digest-probe'), { recursive: true });
  writeFileSync(join(root, 'DEBIAN/control'), CONTROL);
  writeFileSync(join(root, 'DEBIAN/postinst'), '#!/bin/sh\nset -e\necho configured\n');
  chmodSync(join(root, 'DEBIAN/postinst'), 0o755);
  writeFileSync(join(root, 'usr/bin/digest-probe'), '#!/bin/sh\necho probe\n');
  chmodSync(join(root, 'usr/bin/digest-probe'), 0o755);
  writeFileSync(join(root, 'usr/share/doc/digest-probe/README'), 'a file with some text\n'.repeat(50));
  symlinkSync('../../bin/digest-probe', join(root, 'usr/share/doc/digest-probe/link'));
  change(root);
  return root;
}

function build(root: string, compression: 'gzip' | 'xz' | 'zstd' | 'none' = 'gzip', mtime?: number): string {
  if (mtime !== undefined) {
    for (const path of ['usr/bin/digest-probe', 'usr/share/doc/digest-probe/README', 'DEBIAN/control']) {
      utimesSync(join(root, path), mtime, mtime);
    }
  }
  const deb = join(work, `probe-${++counter}.deb`);
  execFileSync('dpkg-deb', [`-Z${compression}`, '--root-owner-group', '--build', root, deb], {
    stdio: 'ignore',
  });
  return deb;
}

const digestOf = async (deb: string) => (await packageContent(deb)).digest;

describe('.deb content digest', () => {
  it('reads name and version from the control file', async () => {
    const content = await packageContent(build(sourceTree()));
    expect(content).toMatchObject({ name: 'digest-probe', version: '1.2-1' });
    expect(content.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is equal for builds that differ only in mtimes and compression', async () => {
    const reference = build(sourceTree(), 'gzip', 1_600_000_000);
    const digest = await digestOf(reference);
    const variants = [
      build(sourceTree(), 'xz', 1_700_000_000),
      build(sourceTree(), 'zstd', 1_650_000_000),
      build(sourceTree(), 'none'),
      build(sourceTree(), 'gzip'),
    ];
    // The archives really differ byte for byte…
    for (const variant of variants) expect(readFileSync(variant).equals(readFileSync(reference))).toBe(false);
    // …and install the same thing.
    for (const variant of variants) expect(await digestOf(variant)).toBe(digest);
  }, 60_000);

  it('is equal when the data members come in another order', async () => {
    const root = sourceTree();
    const dir = join(work, `order-${++counter}`);
    const assemble = (order: string[], name: string) => {
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(join(dir, name, 'debian-binary'), '2.0\n');
      execFileSync('tar', [
        '--owner=0',
        '--group=0',
        '-czf',
        join(dir, name, 'control.tar.gz'),
        '-C',
        join(root, 'DEBIAN'),
        './control',
        './postinst',
      ]);
      execFileSync('tar', [
        '--owner=0',
        '--group=0',
        '--no-recursion',
        '-cJf',
        join(dir, name, 'data.tar.xz'),
        '-C',
        root,
        ...order,
      ]);
      const deb = join(dir, `${name}.deb`);
      execFileSync('ar', ['rc', deb, 'debian-binary', 'control.tar.gz', 'data.tar.xz'], {
        cwd: join(dir, name),
      });
      return deb;
    };
    const entries = [
      './',
      './usr/',
      './usr/bin/',
      './usr/bin/digest-probe',
      './usr/share/',
      './usr/share/doc/',
      './usr/share/doc/digest-probe/',
      './usr/share/doc/digest-probe/README',
      './usr/share/doc/digest-probe/link',
    ];
    const forward = assemble(entries, 'forward');
    const backward = assemble([...entries].reverse(), 'backward');
    expect(await digestOf(backward)).toBe(await digestOf(forward));
    // dpkg-deb's own build of the same tree installs the same thing too.
    expect(await digestOf(build(root, 'zstd'))).toBe(await digestOf(forward));
  }, 60_000);

  it.each([
    [
      'one byte of one file',
      (root: string) =>
        writeFileSync(
          join(root, 'usr/share/doc/digest-probe/README'),
          'a file with some text\n'.repeat(49) + 'a file with some texT\n',
        ),
    ],
    ['one mode bit', (root: string) => chmodSync(join(root, 'usr/bin/digest-probe'), 0o754)],
    [
      'one control field',
      (root: string) =>
        writeFileSync(
          join(root, 'DEBIAN/control'),
          CONTROL.replace('Architecture: all', 'Architecture: all\nPriority: optional'),
        ),
    ],
    [
      'a control field value',
      (root: string) => writeFileSync(join(root, 'DEBIAN/control'), CONTROL.replace('1.2-1', '1.2-2')),
    ],
    [
      'a maintainer script',
      (root: string) => writeFileSync(join(root, 'DEBIAN/postinst'), '#!/bin/sh\nset -e\necho configured!\n'),
    ],
    [
      'a symlink target',
      (root: string) => {
        rmSync(join(root, 'usr/share/doc/digest-probe/link'));
        symlinkSync('../../bin/other', join(root, 'usr/share/doc/digest-probe/link'));
      },
    ],
    [
      'an added empty directory',
      (root: string) => mkdirSync(join(root, 'var/lib/digest-probe'), { recursive: true }),
    ],
  ])(
    'differs for %s',
    async (_what, change) => {
      const reference = await digestOf(build(sourceTree(), 'xz'));
      expect(await digestOf(build(sourceTree(change), 'xz'))).not.toBe(reference);
    },
    60_000,
  );

  it('differs for another owner of one file', async () => {
    const root = sourceTree();
    const plain = await digestOf(build(root));
    const deb = join(work, `owned-${++counter}.deb`);
    // Without --root-owner-group dpkg-deb records the tree's real owners.
    cpSync(root, `${root}-owned`, { recursive: true });
    execFileSync('chown', ['-h', '1234:1234', join(`${root}-owned`, 'usr/bin/digest-probe')]);
    execFileSync('dpkg-deb', ['--build', `${root}-owned`, deb], { stdio: 'ignore' });
    const owned = await packageContent(deb);
    expect(owned.digest).not.toBe(plain);
  }, 60_000);

  describe('malformed archives (exit 3, saying what is wrong)', () => {
    const expectMalformed = async (deb: string, reason: RegExp) => {
      const error = await packageContent(deb).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect(exitCodeOf(error)).toBe(3);
      expect((error as Error).message).toContain(`package: ${deb} is not a valid Debian package`);
      expect((error as Error).message).toMatch(reason);
    };

    it('rejects a file that is not an ar archive', async () => {
      const path = join(work, 'text.deb');
      writeFileSync(path, 'hello, not a package\n');
      await expectMalformed(path, /ar signature/);
    });

    it('rejects a truncated package', async () => {
      const whole = readFileSync(build(sourceTree()));
      const path = join(work, 'truncated.deb');
      writeFileSync(path, whole.subarray(0, whole.length - 200));
      await expectMalformed(path, /claims \d+ bytes but the file ends/);
    });

    it('rejects corrupted compressed data', async () => {
      const whole = readFileSync(build(sourceTree(), 'xz'));
      const at = whole.indexOf('data.tar.xz') + 60 + 40;
      whole.fill(0x55, at, at + 64);
      const path = join(work, 'corrupt.deb');
      writeFileSync(path, whole);
      await expectMalformed(path, /data\.tar\.xz cannot be read/);
    });

    it('rejects a compression it cannot read, naming the supported ones', async () => {
      const dir = join(work, `bz-${++counter}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'debian-binary'), '2.0\n');
      writeFileSync(join(dir, 'control'), CONTROL);
      execFileSync('tar', ['-czf', 'control.tar.gz', './control'], { cwd: dir });
      execFileSync('tar', ['-cjf', 'data.tar.bz2', './control'], { cwd: dir });
      execFileSync('ar', ['rc', 'p.deb', 'debian-binary', 'control.tar.gz', 'data.tar.bz2'], { cwd: dir });
      await expectMalformed(join(dir, 'p.deb'), /data\.tar\.bz2 uses a compression.*\.gz, \.xz, \.zst/);
    });

    it('rejects a package without a control file or Package field', async () => {
      const dir = join(work, `nocontrol-${++counter}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'debian-binary'), '2.0\n');
      writeFileSync(join(dir, 'control'), 'Version: 1\n');
      execFileSync('tar', ['-czf', 'control.tar.gz', './control'], { cwd: dir });
      execFileSync('tar', ['-czf', 'data.tar.gz', './control'], { cwd: dir });
      execFileSync('ar', ['rc', 'p.deb', 'debian-binary', 'control.tar.gz', 'data.tar.gz'], { cwd: dir });
      await expectMalformed(join(dir, 'p.deb'), /no Package field/);
    });

    it('says when the file does not exist', async () => {
      await expect(packageContent(join(work, 'missing.deb'))).rejects.toThrow(/missing\.deb does not exist/);
    });
  });
});

describe('control field parsing', () => {
  it('normalises field name case and trailing blanks, keeps continuation lines', () => {
    expect(parseControlFields('Package: a  \nDESCRIPTION: x\n more \n .\n')).toEqual([
      ['description', 'x\n more\n .'],
      ['package', 'a'],
    ]);
  });

  it('rejects a line that is not a field', () => {
    expect(() => parseControlFields('Package: a\nnot a field\n')).toThrow(
      /control line 2 is not "Field: value"/,
    );
  });
});
