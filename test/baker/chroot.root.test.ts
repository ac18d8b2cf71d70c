/**
 * (root) The host-side pieces of the volume bake against the real kernel: mount bookkeeping, unmount
 * retries that name the busy holder, and the hygiene script and file writes inside a real chroot
 * (a busybox-static root, so no image is needed).
 */
import { spawn, execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
  copyFileSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isMounted, mountsUnder, processesInRoot, unmountWithRetry } from '../../src/baker/mounts.js';
import { imageHygieneScript } from '../../src/baker/steps/hygiene.js';
import { parseMountinfo } from '../../src/common/host/mountinfo.js';
import { aptPlugin } from '../../src/baker/os/apt.js';
import { ChrootTarget } from '../../src/baker/target.js';
import { budgets, timeoutFor } from '../support/timeouts.js';

const work = mkdtempSync(join(tmpdir(), 'ovenproof-chroot-'));
afterAll(() => {
  for (const m of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const point = m.split(' ')[4];
    if (point?.startsWith(work)) execFileSync('umount', ['-l', point]);
  }
}, timeoutFor(budgets.hostCommands));

/** Every test runs a few mount, umount and chroot commands on the host. */
const HOST_COMMANDS = timeoutFor(budgets.hostCommands);

/** A minimal root: busybox-static with its applets as symlinks. */
function busyboxRoot(): string {
  const root = mkdtempSync(join(work, 'root-'));
  mkdirSync(join(root, 'bin'));
  copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  for (const applet of [
    'sh',
    'rm',
    'find',
    'sed',
    'mkdir',
    'cat',
    'chmod',
    'dirname',
    'ls',
    'env',
    'sleep',
  ]) {
    symlinkSync('busybox', join(root, 'bin', applet));
  }
  mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
  symlinkSync('/bin/busybox', join(root, 'usr', 'bin', 'env'));
  return root;
}

describe('mount bookkeeping (root)', { timeout: HOST_COMMANDS }, () => {
  it('tells shared mounts from private ones', () => {
    const info = [
      '36 35 98:0 / /mnt/a rw,relatime shared:7 - ext4 /dev/root rw',
      '37 35 98:0 / /mnt/b rw,relatime master:1 - ext4 /dev/root rw',
      '38 35 98:0 / /mnt/c rw,relatime - ext4 /dev/root rw',
    ].join('\n');
    expect(parseMountinfo(info)).toEqual([
      { point: '/mnt/a', source: '/dev/root', shared: true },
      { point: '/mnt/b', source: '/dev/root', shared: false },
      { point: '/mnt/c', source: '/dev/root', shared: false },
    ]);
  });

  it('decodes escaped mount points', () => {
    const line = '36 35 98:0 / /mnt/with\\040space rw - ext4 /dev/root rw';
    expect(parseMountinfo(line).map((m) => m.point)).toEqual(['/mnt/with space']);
  });

  it('unmounts in reverse, names the process that keeps a mount busy, and succeeds once it is gone (root)', async () => {
    const point = mkdtempSync(join(work, 'mnt-'));
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', point]);
    mkdirSync(join(point, 'inner'));
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(point, 'inner')]);
    expect(await mountsUnder(point)).toEqual([join(point, 'inner'), point]);

    const holder = spawn('sleep', ['300'], { cwd: join(point, 'inner'), stdio: 'ignore' });
    const warnings: string[] = [];
    await expect(
      unmountWithRetry(join(point, 'inner'), { attempts: 2, delayMs: 10, warn: (m) => warnings.push(m) }),
    ).rejects.toThrow(new RegExp(`target is busy, held by pid ${holder.pid} \\(sleep\\)`));
    expect(warnings[0]).toMatch(/retry 1\/2/);

    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    await unmountWithRetry(join(point, 'inner'));
    await unmountWithRetry(point);
    expect(await isMounted(point)).toBe(false);
    await unmountWithRetry(point); // not mounted: nothing to do
  });
});

describe('chroot target and hygiene (root)', { timeout: HOST_COMMANDS }, () => {
  it('finds processes running inside a chroot (root)', async () => {
    const root = busyboxRoot();
    const child = spawn('chroot', [root, '/bin/sleep', '300'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
    const found = await processesInRoot(root);
    expect(found.map((p) => p.pid)).toContain(child.pid);
    child.kill('SIGKILL');
  });

  it('writes files through the chroot, so an image symlink cannot redirect a write to the host (root)', async () => {
    const root = busyboxRoot();
    const outside = mkdtempSync(join(work, 'outside-'));
    mkdirSync(join(root, 'etc'));
    symlinkSync(outside, join(root, 'etc', 'evil'));
    const target = new ChrootTarget(root, { PATH: '/bin' });
    // Inside the chroot the link points at a path that does not exist there: the write fails instead of
    // landing in the host folder the link names.
    await expect(target.writeFile('/etc/evil/file', 'x', 0o600)).rejects.toThrow(/can't create directory/);
    expect(readdirSync(outside)).toEqual([]);
    await target.writeFile('/etc/motd', 'hello\n', 0o640);
    expect(statSync(join(root, 'etc', 'motd')).mode & 0o777).toBe(0o640);
    await expect(target.writeFile('etc/relative', 'x', 0o644)).rejects.toThrow(/must be absolute/);
  });

  it('removes identity, history, logs, caches and build keys, and empties machine-id (root)', async () => {
    const root = busyboxRoot();
    const files: Record<string, string> = {
      'etc/ssh/ssh_host_ed25519_key': 'secret',
      'etc/ssh/ssh_host_ed25519_key.pub': 'pub',
      'etc/ssh/sshd_config': 'keep',
      'etc/machine-id': '0123456789abcdef0123456789abcdef\n',
      'etc/hostname': 'bake-1234\n',
      'etc/hosts': '127.0.0.1\tlocalhost\n127.0.1.1\tbake-1234\n',
      'root/.bash_history': 'ls',
      'root/.ssh/authorized_keys': 'ssh-ed25519 AAAA build',
      'home/admin/.ssh/authorized_keys': 'ssh-ed25519 AAAA build',
      'home/admin/.bash_history': 'ls',
      'var/log/apt/history.log': 'x',
      'var/log/journal/abc/system.journal': 'x',
      'var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages': 'x',
      'var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease': 'x',
      'var/cache/apt/archives/jq_1.6_amd64.deb': 'x',
      'var/cache/apt/pkgcache.bin': 'x',
      'var/lib/ovenproof/instance-id': 'i-1',
      'var/tmp/ovenproof-bake/0-x.deb': 'x',
      'var/lib/dbus/machine-id': 'x',
      'usr/share/keep/me': 'keep',
    };
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    mkdirSync(join(root, 'var/lib/apt/lists/partial'), { recursive: true });
    await new ChrootTarget(root, { PATH: '/bin' }).sh(imageHygieneScript(aptPlugin));

    const gone = Object.keys(files).filter(
      (p) =>
        !['etc/ssh/sshd_config', 'etc/machine-id', 'etc/hostname', 'etc/hosts', 'usr/share/keep/me'].includes(
          p,
        ),
    );
    for (const path of gone) expect(existsSync(join(root, path)), path).toBe(false);
    expect(readFileSync(join(root, 'etc/machine-id'), 'utf8')).toBe('');
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('localhost\n');
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toBe('127.0.0.1\tlocalhost\n');
    expect(readFileSync(join(root, 'usr/share/keep/me'), 'utf8')).toBe('keep');
    expect(existsSync(join(root, 'var/log/apt'))).toBe(true);
    expect(existsSync(join(root, 'var/lib/apt/lists/partial'))).toBe(true);
  });
});
