import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatSources, hostAptSources, osNameFor, requireTools } from '../../src/providers/local/host.js';
import { cpioArchive, modulesInLoadOrder } from '../../src/providers/local/initrd.js';
import { formatIdentityDocument, identityInitFiles } from '../../src/providers/identity/index.js';
import { parseSizeGiB } from '../../src/cli/commands/base.js';

describe('host apt sources', () => {
  it('keeps the distribution entries of deb822 and one-line files, drops third-party ones', async () => {
    const etc = await mkdtemp(join(tmpdir(), 'ovenproof-apt-'));
    await mkdir(join(etc, 'sources.list.d'));
    await writeFile(
      join(etc, 'sources.list.d', 'debian.sources'),
      'Types: deb deb-src\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main contrib\n' +
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' +
        'Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n',
    );
    await writeFile(
      join(etc, 'sources.list.d', 'nodesource.sources'),
      'Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\nSigned-By: /usr/share/keyrings/nodesource.gpg\n',
    );
    await writeFile(
      join(etc, 'sources.list.d', 'vendor.list'),
      'deb [signed-by=/etc/apt/keyrings/vendor.gpg] https://vendor.example/apt bookworm main\n',
    );
    await writeFile(
      join(etc, 'sources.list'),
      '# comment\ndeb http://old.example/debian bookworm main # trailing\n',
    );
    await writeFile(
      join(etc, 'sources.list.d', 'google.list.disabled'),
      'deb http://x.example bookworm main\n',
    );
    const sources = await hostAptSources('bookworm', etc);
    expect(formatSources(sources)).toBe(
      [
        'deb http://old.example/debian bookworm main',
        'deb http://mirror.example/debian bookworm main contrib',
        'deb http://mirror.example/debian bookworm-updates main contrib',
        'deb http://mirror.example/debian-security bookworm-security main',
        '',
      ].join('\n'),
    );
  });

  it('names the base after the suite', () => {
    const host = { id: 'debian', versionId: '12', codename: 'bookworm' };
    expect(osNameFor(host, 'bookworm')).toBe('debian-12');
    expect(osNameFor(host, 'trixie')).toBe('debian-13');
    expect(osNameFor(host, 'sid')).toBe('debian-sid');
  });

  it('lists every missing tool and the one apt-get line that installs them', async () => {
    await expect(
      requireTools('base build', { 'no-such-tool-1': 'pkg-b', 'no-such-tool-2': 'pkg-a', sh: 'dash' }),
    ).rejects.toThrow(
      'base build needs host tools that are missing: no-such-tool-1, no-such-tool-2. Install them with: apt-get install -y pkg-a pkg-b',
    );
  });

  it('parses --size', () => {
    expect(parseSizeGiB('4G')).toBe(4);
    expect(parseSizeGiB('8192M')).toBe(8);
    expect(() => parseSizeGiB('lots')).toThrow(/--size "lots" is not a size/);
    expect(() => parseSizeGiB('512M')).toThrow(/between 1G and 1024G/);
  });
});

describe('tiny initrd', () => {
  it('orders modules after their dependencies and skips built-ins', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-mods-'));
    await writeFile(
      join(dir, 'modules.dep'),
      [
        'kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
        'kernel/drivers/virtio/virtio_pci_modern_dev.ko:',
        'kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko',
        'kernel/drivers/virtio/virtio_ring.ko:',
        'kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
        'kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko',
        'kernel/fs/jbd2/jbd2.ko:',
        'kernel/fs/mbcache.ko:',
        '',
      ].join('\n'),
    );
    await writeFile(join(dir, 'modules.builtin'), 'kernel/lib/crc16.ko\n');
    const order = await modulesInLoadOrder(dir, ['virtio_pci', 'virtio_blk', 'ext4']);
    const names = order.map((p) => p.split('/').pop());
    expect(names.indexOf('virtio_ring.ko')).toBeLessThan(names.indexOf('virtio.ko'));
    expect(names.indexOf('virtio.ko')).toBeLessThan(names.indexOf('virtio_pci.ko'));
    expect(names.indexOf('jbd2.ko')).toBeLessThan(names.indexOf('ext4.ko.xz'));
    expect(names).not.toContain('crc16.ko');
    expect(new Set(names).size).toBe(names.length);
    await expect(modulesInLoadOrder(dir, ['nvme'])).rejects.toThrow(/kernel module nvme is neither built in/);
  });

  it('writes a newc cpio that cpio itself can list', async () => {
    const archive = cpioArchive([
      { name: 'bin', mode: 0o40755 },
      { name: 'bin/hello', mode: 0o100755, data: Buffer.from('#!/bin/sh\necho hi\n') },
      { name: 'bin/sh', mode: 0o120777, data: Buffer.from('busybox') },
      { name: 'dev/console', mode: 0o20600, rdev: [5, 1] },
    ]);
    const listing = execFileSync('busybox', ['cpio', '-t'], {
      input: archive,
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    expect(listing.toString().trim().split('\n')).toEqual(['bin', 'bin/hello', 'bin/sh', 'dev/console']);
  });
});

describe('identity document and init files', () => {
  const identity = {
    hostname: 'i-abc',
    authorizedKey: 'ssh-ed25519 AAAAclient c',
    hostKeyPrivate: '-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n-----END OPENSSH PRIVATE KEY-----\n',
    hostKeyPublic: 'ssh-ed25519 AAAAhost h',
  };

  it('carries secrets only base64-encoded, one key per line', () => {
    const doc = formatIdentityDocument({ instanceId: 'i-abc', identity, sshUser: 'root', ttlMs: 90_000 });
    expect(doc).not.toContain('secret');
    expect(doc.split('\n')[0]).toBe('#ovenproof-identity 1');
    expect(doc).toContain('ttl-seconds=90\n');
    const priv = /^host-key-private-b64=(.*)$/m.exec(doc)![1]!;
    expect(Buffer.from(priv, 'base64').toString()).toBe(identity.hostKeyPrivate);
  });

  it('rejects hostnames and users that are not plain words', () => {
    for (const bad of ['a;reboot', '', '-x', 'a b', 'x'.repeat(64)]) {
      expect(() =>
        formatIdentityDocument({
          instanceId: 'i-abc',
          identity: { ...identity, hostname: bad },
          sshUser: 'root',
          ttlMs: 1,
        }),
      ).toThrow(/identity hostname .* must be 1-63 letters/);
    }
    expect(() =>
      formatIdentityDocument({ instanceId: 'i-abc', identity, sshUser: 'root$(id)', ttlMs: 1 }),
    ).toThrow(/identity ssh user/);
  });

  it('ships a script that passes sh -n and a unit ordered before sshd', () => {
    const files = identityInitFiles();
    const script = files.find((f) => f.path === '/usr/local/sbin/ovenproof-identity')!;
    execFileSync('sh', ['-n'], { input: script.content });
    expect(script.content).not.toContain('@{');
    expect(script.content).toContain('dev=${word#ovenproof.seed=}');
    const unit = files.find((f) => f.path.endsWith('/ovenproof-identity.service') && !f.symlinkTo)!;
    expect(unit.content).toMatch(/^Before=ssh\.service/m);
    expect(files.filter((f) => f.symlinkTo).map((f) => f.path)).toEqual([
      '/etc/systemd/system/sysinit.target.wants/ovenproof-identity.service',
      '/etc/systemd/system/multi-user.target.wants/ovenproof-ttl.service',
    ]);
  });
});
