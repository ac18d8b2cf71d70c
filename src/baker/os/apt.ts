/** The apt/dpkg plugin for Debian and Ubuntu images. */
import { ConfigError } from '../../common/errors.js';
import { shQuote } from '../../ssh/shell.js';
import type { OsPlugin } from './plugin.js';

const POLICY_RC_D = '/usr/sbin/policy-rc.d';
const REAL_SUFFIX = '.ovenproof-real';
const DIVERTED_NOTE = '/var/lib/dpkg/ovenproof-bake-diverted';

/** Package names per Debian policy: lowercase alphanumerics and + - . (at least two characters). */
const DEB_NAME = /^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$/;

export function assertAptPackageNames(packages: readonly string[]): void {
  for (const name of packages) {
    if (!DEB_NAME.test(name)) {
      throw new ConfigError(
        `packages: "${name}" is not a Debian package name (name, name:arch or name=version)`,
      );
    }
  }
}

export const aptPlugin: OsPlugin = {
  name: 'apt',
  packageExtension: '.deb',
  indexDir: '/var/lib/apt/lists',
  archiveDir: '/var/cache/apt/archives',
  env: {
    DEBIAN_FRONTEND: 'noninteractive',
    DEBCONF_NONINTERACTIVE_SEEN: 'true',
    LC_ALL: 'C',
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  },

  indexSourcesScript() {
    return (
      'dpkg --print-architecture; ' +
      'for f in /etc/apt/sources.list /etc/apt/sources.list.d/*; do ' +
      '[ -f "$f" ] && { echo "== $f"; cat "$f"; }; done; true'
    );
  },

  validatePackageNames(packages) {
    assertAptPackageNames(packages);
  },

  updateIndexScript() {
    return 'apt-get -q update';
  },

  installScript(packageFiles, packages) {
    assertAptPackageNames(packages);
    // `./file.deb` makes apt treat the argument as a file and resolve its dependencies from the sources.
    const args = [...packageFiles.map((f) => (f.startsWith('/') ? f : `./${f}`)), ...packages].map(shQuote);
    if (args.length === 0) return 'true';
    return (
      'apt-get -q -y --no-install-recommends ' +
      '-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold ' +
      `install ${args.join(' ')}`
    );
  },

  listInstalledScript() {
    return "dpkg-query -W -f '${db:Status-Abbrev}\\t${Package}\\t${Version}\\n'";
  },

  parseInstalled(output) {
    const packages: Record<string, string> = {};
    for (const line of output.split('\n')) {
      const [status, name, version] = line.split('\t');
      if (status?.startsWith('ii') && name && version) packages[name] = version;
    }
    return packages;
  },

  blockServicesScript() {
    // policy-rc.d 101 = "action forbidden": invoke-rc.d and deb-systemd-invoke then start nothing.
    // Packages that call start-stop-daemon directly get a stub through a dpkg diversion; the diverted
    // path is remembered so that the undo finds it (it is /sbin or /usr/sbin depending on the release).
    return [
      'set -e',
      // An image may carry its own policy-rc.d (container-style bases): keep it aside and restore it.
      `if [ -e ${POLICY_RC_D} ] && ! [ -e ${POLICY_RC_D}${REAL_SUFFIX} ]; then mv ${POLICY_RC_D} ${POLICY_RC_D}${REAL_SUFFIX}; fi`,
      `printf '#!/bin/sh\\n# ovenproof bake: no service starts inside the chroot\\nexit 101\\n' > ${POLICY_RC_D}`,
      `chmod 755 ${POLICY_RC_D}`,
      "ssd=$(dpkg-query -L dpkg 2>/dev/null | grep '/start-stop-daemon$' | head -n 1 || true)",
      `if [ -n "$ssd" ] && [ -e "$ssd" ] && ! [ -e ${DIVERTED_NOTE} ]; then`,
      `  dpkg-divert --quiet --local --rename --divert "$ssd${REAL_SUFFIX}" --add "$ssd"`,
      `  printf '#!/bin/sh\\necho "ovenproof bake: not running start-stop-daemon $*" >&2\\nexit 0\\n' > "$ssd"`,
      '  chmod 755 "$ssd"',
      `  printf '%s\\n' "$ssd" > ${DIVERTED_NOTE}`,
      'fi',
    ].join('\n');
  },

  unblockServicesScript() {
    return [
      'set -e',
      `rm -f ${POLICY_RC_D}`,
      `if [ -e ${POLICY_RC_D}${REAL_SUFFIX} ]; then mv ${POLICY_RC_D}${REAL_SUFFIX} ${POLICY_RC_D}; fi`,
      `if [ -e ${DIVERTED_NOTE} ]; then`,
      `  ssd=$(cat ${DIVERTED_NOTE})`,
      '  rm -f "$ssd"',
      '  dpkg-divert --quiet --local --rename --remove "$ssd"',
      // dpkg-divert keeps a backup of its database; the image does not need it.
      '  rm -f /var/lib/dpkg/diversions-old',
      `  rm -f ${DIVERTED_NOTE}`,
      'fi',
    ].join('\n');
  },

  hygiene: {
    removeGlobs: [
      '/var/lib/apt/lists/*_Packages*',
      '/var/lib/apt/lists/*_Sources*',
      '/var/lib/apt/lists/*Release*',
      '/var/lib/apt/lists/*_Translation-*',
      '/var/lib/apt/lists/partial/*',
      '/var/cache/apt/*.bin',
      '/var/cache/apt/archives/*.deb',
      '/var/cache/apt/archives/partial/*',
      '/var/cache/debconf/*-old',
      '/var/lib/dpkg/*-old',
    ],
    emptyFiles: [],
    clearDirs: [],
  },
};
