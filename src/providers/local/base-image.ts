/**
 * `ovenproof base build`: a bootable base image made with mmdebstrap from the host's own distribution
 * and apt sources (or --suite / --mirror), with systemd, openssh-server, systemd-networkd DHCP, a
 * kernel for direct boot with ovenproof's tiny initrd, trimmed units and the identity init. The disk is
 * a sparse raw ext4 made by `mke2fs -d`, so nothing is mounted. Cached by name in the image store.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger, ProgressSink } from '../../common/log.js';
import { ConfigError, PipelineError } from '../../common/errors.js';
import type { ImageManifest } from '../provider.js';
import { identityInitFiles, installIdentityInit } from '../identity/index.js';
import { Privileged } from '../../common/host/command.js';
import {
  BASE_BUILD_TOOLS,
  findOnPath,
  formatSources,
  hostAptSources,
  osNameFor,
  readOsRelease,
  requireTools,
} from './host.js';
import { buildTinyInitrd } from './initrd.js';
import { withFileLock } from '../../common/host/lock.js';
import type { LocalPaths } from './paths.js';
import { ImageStore, KEPT_TAG } from './store.js';
import { createWorkDir, removeWorkDir } from './workdir.js';

export interface BaseBuildOptions {
  /** Store name of the base; default `<os id>-<version>` of the suite, e.g. `debian-12`. */
  name?: string;
  /** Distribution suite (codename); default the host's. */
  suite?: string;
  /** Mirror URL; default the host's configured apt sources for the suite. */
  mirror?: string;
  /** Build a new base even if one with this name exists (the old one is deregistered afterwards). */
  rebuild?: boolean;
  /** Filesystem size in GiB (sparse: only used blocks take space). Default 4. */
  sizeGiB?: number;
  log: Logger;
  progress?: ProgressSink;
}

export interface BaseBuildResult {
  image: ImageManifest;
  cacheHit: boolean;
}

/** Kernel command line every local instance boots with (root on the first virtio disk). */
export const KERNEL_CMDLINE = 'console=ttyS0 root=/dev/vda rw loglevel=4 systemd.show_status=1';

/** Units that only slow a short-lived test VM down (timers, wait-online, gettys). */
const MASKED_UNITS = [
  'systemd-networkd-wait-online.service',
  'apt-daily.timer',
  'apt-daily-upgrade.timer',
  'e2scrub_all.timer',
  'e2scrub_reap.service',
  'fstrim.timer',
  'getty@tty1.service',
  'serial-getty@ttyS0.service',
  'systemd-pstore.service',
  'man-db.timer',
];

function kernelPackage(osId: string): string {
  return osId === 'ubuntu' ? 'linux-image-kvm' : 'linux-image-cloud-amd64';
}

function basePackages(osId: string): string[] {
  return [
    'systemd-sysv',
    'dbus',
    'udev',
    'openssh-server',
    kernelPackage(osId),
    'mount',
    'iproute2',
    'procps',
    'kmod',
    'netbase',
    'sudo',
  ];
}

/** Files written into the rootfs besides the packages; kept here so a change is one diff. */
function baseConfigFiles(): Record<string, string> {
  return {
    'etc/systemd/network/80-ovenproof-dhcp.network':
      '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n',
    // QEMU user-mode networking's DNS forwarder; no resolver daemon is needed in a test VM.
    'etc/resolv.conf': 'nameserver 10.0.2.3\n',
    'etc/hostname': 'ovenproof\n',
    'etc/hosts': '127.0.0.1\tlocalhost\n127.0.1.1\tovenproof\n::1\tlocalhost ip6-localhost ip6-loopback\n',
    // The initrd mounts the root read-write; an fstab line for it would only make boot wait for udev.
    'etc/fstab': '# root is mounted by the ovenproof initrd (see the kernel command line)\n',
    // `sshd -t` before every start costs a second of emulated CPU; the config is fixed at bake time.
    'etc/systemd/system/ssh.service.d/50-ovenproof.conf': '[Service]\nExecStartPre=\n',
    'etc/ssh/sshd_config.d/50-ovenproof.conf':
      'HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n' +
      'PermitRootLogin prohibit-password\nUseDNS no\n',
  };
}

/** Bumped when the base build changes in a way the inputs of `baseRecipeDigest` do not show. */
const BASE_RECIPE_VERSION = 1;

/**
 * A digest of everything that decides what `buildBaseImage` would make on this host for the default
 * suite: distribution, apt sources, package list, written files, the identity init, masked units, kernel
 * command line and architecture. Equal digests mean a base built elsewhere (a previous CI job) can stand
 * in for a new build, so this names the base in persisted caches.
 */
export async function baseRecipeDigest(name: string): Promise<string> {
  const host = await readOsRelease();
  const codename = host.codename ?? '';
  const sources = codename ? formatSources(await hostAptSources(codename)) : '';
  const osId = host.id;
  return createHash('sha256')
    .update(
      JSON.stringify({
        version: BASE_RECIPE_VERSION,
        name,
        os: `${host.id}-${host.versionId ?? ''}`,
        codename,
        sources,
        arch: process.arch,
        packages: basePackages(osId),
        files: baseConfigFiles(),
        identity: identityInitFiles().map((f) => [f.path, f.mode, f.symlinkTo ?? '', f.content]),
        masked: MASKED_UNITS,
        cmdline: KERNEL_CMDLINE,
      }),
    )
    .digest('hex');
}

export async function buildBaseImage(
  paths: LocalPaths,
  store: ImageStore,
  options: BaseBuildOptions,
): Promise<BaseBuildResult> {
  const host = await readOsRelease();
  const suite = options.suite ?? host.codename;
  if (!suite) throw new ConfigError('base build: cannot tell the host distribution suite; pass --suite');
  if (!/^[a-z][a-z0-9-]*$/.test(suite))
    throw new ConfigError(`base build: --suite "${suite}" is not a suite name`);
  const os = osNameFor(host, suite);
  const name = options.name ?? os;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) {
    throw new ConfigError(`base build: --name "${name}" must be letters, digits, '.', '_' or '-'`);
  }
  const sizeGiB = options.sizeGiB ?? 4;
  if (!(sizeGiB >= 1 && sizeGiB <= 1024))
    throw new ConfigError(`base build: --size ${sizeGiB} GiB is out of range 1-1024`);

  const cached = async () => (await store.list({ idOrName: name })).find((i) => i.parent === null) ?? null;
  if (!options.rebuild) {
    const hit = await cached();
    if (hit) return { image: hit, cacheHit: true };
  }
  await requireTools('base build', BASE_BUILD_TOOLS);
  const privileged = new Privileged();
  const why = await privileged.unavailable();
  if (why) throw new PipelineError('bake', `base build: ${why}`);

  // One build per name at a time; a second caller waits and then finds the first one's image.
  return withFileLock(
    join(paths.images, `.base-${name}.lock`),
    async () => {
      const previous = await cached();
      if (previous && !options.rebuild) return { image: previous, cacheHit: true };
      const image = await build(
        paths,
        store,
        privileged,
        { ...options, name, suite, os, sizeGiB },
        host.codename,
      );
      if (previous) await store.deregister(previous.id);
      return { image, cacheHit: false };
    },
    60 * 60_000,
  );
}

async function build(
  paths: LocalPaths,
  store: ImageStore,
  privileged: Privileged,
  o: BaseBuildOptions & { name: string; suite: string; os: string; sizeGiB: number },
  hostCodename: string | null,
): Promise<ImageManifest> {
  const { log } = o;
  const step = (label: string, fraction: number) => {
    log.info(`base build: ${label}`);
    o.progress?.({ label, fraction });
  };
  const work = await createWorkDir(paths, 'base-build');
  try {
    const rootfs = join(work, 'rootfs');
    const out = join(work, 'out');
    const stage = join(work, 'stage');
    await mkdir(out, { recursive: true });

    const mirror = await aptSourceFor(o, work, hostCodename);
    const osId = o.os.split('-')[0]!;
    step(`Bootstrapping ${o.suite} with mmdebstrap`, 0.05);
    const started = performance.now();
    await privileged.mustRun(
      'bake',
      'mmdebstrap',
      [
        '--mode=root',
        '--variant=apt',
        '--format=directory',
        `--include=${basePackages(osId).join(',')}`,
        '--aptopt=Acquire::Languages "none"',
        '--dpkgopt=path-exclude=/usr/share/doc/*',
        '--dpkgopt=path-exclude=/usr/share/man/*',
        '--dpkgopt=path-exclude=/usr/share/locale/*',
        '--dpkgopt=path-include=/usr/share/doc/*/copyright',
        o.suite,
        rootfs,
        mirror,
      ],
      { onOutput: (t) => log.debug(t.trimEnd()) },
    );
    log.debug(`mmdebstrap took ${Math.round(performance.now() - started)} ms`);

    step('Configuring the root filesystem', 0.6);
    for (const [rel, content] of Object.entries(baseConfigFiles())) {
      await mkdir(join(stage, rel, '..'), { recursive: true });
      await writeFile(join(stage, rel), content);
    }
    await installIdentityInit(stage);
    const { uid, gid } = await finishRootfs(privileged, rootfs, stage, out);

    step('Building the boot initrd', 0.7);
    const busybox = (await findOnPath('busybox'))!;
    await writeFile(join(out, 'initrd.img'), await buildTinyInitrd(join(out, 'modules'), busybox));

    step('Writing the ext4 disk image', 0.8);
    const disk = join(out, 'disk.raw');
    await privileged.mustRun('bake', 'mke2fs', [
      '-q',
      '-F',
      '-t',
      'ext4',
      '-L',
      'ovenproof-root',
      '-d',
      rootfs,
      disk,
      `${o.sizeGiB}G`,
    ]);
    await privileged.mustRun('bake', 'chown', [`${uid}:${gid}`, disk]);

    const packages = await readPackageList(join(out, 'packages.txt'));
    const kernelVersion = (await readFile(join(out, 'kernel-version'), 'utf8')).trim();
    step('Registering the base image', 0.95);
    const image = await store.register(
      {
        name: o.name,
        os: o.os,
        arch: 'x86_64',
        parent: null,
        packages,
        bakeKey: null,
        tags: {
          [KEPT_TAG]: 'true',
          'ovenproof:base': 'true',
          'ovenproof:suite': o.suite,
          'ovenproof:kernel': kernelVersion,
          'ovenproof:cmdline': KERNEL_CMDLINE,
        },
      },
      { disk, kernel: join(out, 'vmlinuz'), initrd: join(out, 'initrd.img') },
    );
    step(`Base image ${image.id} (${o.name}) ready`, 1);
    return image;
  } finally {
    await removeWorkDir(work, privileged);
  }
}

/** The apt source mmdebstrap bootstraps from: the `--mirror` URL, or this host's own sources as a file. */
async function aptSourceFor(
  o: BaseBuildOptions & { suite: string },
  work: string,
  hostCodename: string | null,
): Promise<string> {
  if (o.mirror) {
    if (!/^(https?|file):\/\/\S+$/.test(o.mirror)) {
      throw new ConfigError(`base build: --mirror "${o.mirror}" must be an http(s):// or file:// URL`);
    }
    return `deb ${o.mirror} ${o.suite} main`;
  } else {
    const codename = hostCodename ?? o.suite;
    const sources = await hostAptSources(codename);
    if (sources.length === 0) {
      throw new ConfigError(
        `base build: no apt source for ${codename} is configured on this host; pass --mirror URL`,
      );
    }
    const text =
      o.suite === codename
        ? formatSources(sources)
        : formatSources(
            sources.map((s) => ({
              ...s,
              suites: s.suites.map((x) => x.replace(codename, o.suite)),
            })),
          );
    const list = join(work, 'sources.list');
    await writeFile(list, text);
    return list;
  }
}

/**
 * Runs as root: copies the staged files in, enables/masks units, removes build-time identity, then
 * hands the kernel, modules and package list out to the (possibly unprivileged) caller.
 */
async function finishRootfs(
  privileged: Privileged,
  rootfs: string,
  stage: string,
  out: string,
): Promise<{ uid: string; gid: string }> {
  const uid = String(process.getuid?.() ?? 0);
  const gid = String(process.getgid?.() ?? 0);
  const script = `set -eu
root=$1; stage=$2; out=$3; uid=$4; gid=$5; shift 5
cp -a --no-preserve=ownership "$stage/." "$root/"
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
chroot "$root" systemctl mask "$@" >/dev/null 2>&1
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/apt/* "$root"/root/.bash_history
dpkg-query --admindir="$root/var/lib/dpkg" -W -f='\${Package}=\${Version}\\n' > "$out/packages.txt"
kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n 1)
version=\${kernel##*/vmlinuz-}
cp "$kernel" "$out/vmlinuz"
cp -a "$root/lib/modules/$version" "$out/modules"
echo "$version" > "$out/kernel-version"
chown -R "$uid:$gid" "$out"
`;
  await privileged.mustRun('bake', 'sh', ['-c', script, 'sh', rootfs, stage, out, uid, gid, ...MASKED_UNITS]);

  return { uid, gid };
}

async function readPackageList(path: string): Promise<Record<string, string>> {
  const packages: Record<string, string> = {};
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) packages[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return packages;
}
