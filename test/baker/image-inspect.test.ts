import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hygieneFindings } from './helpers/image-inspect.js';

function ext4From(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ovenproof-inspect-'));
  const root = join(dir, 'root');
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  const disk = join(dir, 'disk.raw');
  execFileSync('truncate', ['-s', '16M', disk]);
  execFileSync('mke2fs', ['-q', '-t', 'ext4', '-d', root, disk]);
  return disk;
}

describe('image hygiene check used by the bake tests', () => {
  it('finds every kind of leftover in a dirty image', () => {
    const disk = ext4From({
      'etc/ssh/ssh_host_ed25519_key': 'k',
      'etc/machine-id': '0123\n',
      'root/.ssh/authorized_keys': 'ssh-ed25519 AAAA',
      'home/admin/.ssh/authorized_keys': 'ssh-ed25519 AAAA',
      'root/.bash_history': 'ls',
      'var/lib/apt/lists/x_Packages': 'p',
      'var/cache/apt/archives/jq.deb': 'd',
      'var/log/dpkg.log': 'l',
      'var/log/journal/abc/system.journal': 'j',
      'var/lib/ovenproof/instance-id': 'i',
      'usr/sbin/policy-rc.d': 'exit 101',
    });
    expect(hygieneFindings(disk)).toEqual([
      'host key /etc/ssh/ssh_host_ed25519_key',
      'authorized key /root/.ssh/authorized_keys',
      'authorized key /home/admin/.ssh/authorized_keys',
      '/etc/machine-id is not empty',
      '/root/.bash_history',
      '/usr/sbin/policy-rc.d left behind',
      '/var/lib/ovenproof identity state',
      'apt lists: x_Packages',
      'cached packages: jq.deb',
      'log /var/log/dpkg.log',
      'journal /var/log/journal/abc/system.journal',
    ]);
  });

  it('finds nothing in a clean one', () => {
    expect(
      hygieneFindings(
        ext4From({ 'etc/machine-id': '', 'etc/ssh/sshd_config': 'x', 'var/log/apt/.keep': '' }),
      ),
    ).toEqual([]);
  });
});
