/**
 * Builds a real .deb with dpkg-deb for the bake tests: one data file, and a service that appends the
 * current boot id to a marker file whenever it starts. Its postinst starts the service the two ways
 * packages do: invoke-rc.d (governed by policy-rc.d) and start-stop-daemon called directly (which runs
 * in a chroot unless the baker stubs it). A marker line from a boot other than the instance's own
 * proves a service ran at bake time.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const MARKER_PACKAGE = 'ovenproof-marker';
export const MARKER_FILE = '/var/lib/ovenproof-marker/started';
const MARKER_HELPER = '/usr/lib/ovenproof-marker/write-marker';
export const MARKER_DATA_FILE = '/usr/share/ovenproof-marker/hello.txt';

const WRITE_MARKER = `mkdir -p /var/lib/ovenproof-marker && cat /proc/sys/kernel/random/boot_id >> ${MARKER_FILE}`;

export function buildMarkerDeb(dir: string, version = '1.0'): string {
  const root = join(dir, `pkg-${version}`);
  const files: Record<string, { content: string; mode: number }> = {
    'DEBIAN/control': {
      content:
        `Package: ${MARKER_PACKAGE}\nVersion: ${version}\nArchitecture: all\nMaintainer: ovenproof tests <tests@example.invalid>\n` +
        'Depends: init-system-helpers\nDescription: ovenproof bake test package\n marker service for bake tests\n',
      mode: 0o644,
    },
    'DEBIAN/postinst': {
      content:
        `#!/bin/sh\nset -e\nif [ "$1" = configure ]; then\n  invoke-rc.d ${MARKER_PACKAGE} start || true\n` +
        `  start-stop-daemon --start --quiet --exec ${MARKER_HELPER} || true\nfi\n`,
      mode: 0o755,
    },
    [`etc/init.d/${MARKER_PACKAGE}`]: {
      content: `#!/bin/sh\n### BEGIN INIT INFO\n# Provides: ${MARKER_PACKAGE}\n# Required-Start:\n# Required-Stop:\n# Default-Start: 2 3 4 5\n# Default-Stop:\n# Short-Description: bake test marker\n### END INIT INFO\ncase "$1" in start) ${MARKER_HELPER} ;; esac\nexit 0\n`,
      mode: 0o755,
    },
    [`lib/systemd/system/${MARKER_PACKAGE}.service`]: {
      content: `[Unit]\nDescription=ovenproof bake test marker\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=${MARKER_HELPER}\n\n[Install]\nWantedBy=multi-user.target\n`,
      mode: 0o644,
    },
    [MARKER_HELPER.slice(1)]: { content: `#!/bin/sh\n${WRITE_MARKER}\n`, mode: 0o755 },
    [MARKER_DATA_FILE.slice(1)]: { content: `hello from ${MARKER_PACKAGE} ${version}\n`, mode: 0o644 },
  };
  for (const [path, file] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), file.content);
    chmodSync(join(root, path), file.mode);
  }
  mkdirSync(join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
  symlinkSync(
    `/lib/systemd/system/${MARKER_PACKAGE}.service`,
    join(root, `etc/systemd/system/multi-user.target.wants/${MARKER_PACKAGE}.service`),
  );
  const deb = join(dir, `${MARKER_PACKAGE}_${version}_all.deb`);
  // A fixed timestamp makes the .deb byte-identical across builds, so equal requests share a bake key.
  execFileSync('dpkg-deb', ['--build', '--root-owner-group', root, deb], {
    stdio: 'ignore',
    env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' },
  });
  return deb;
}
