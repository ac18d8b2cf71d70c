/**
 * Facts about the host the local provider runs on: its distribution, its configured apt sources, and
 * whether the tools the provider shells out to are installed (with the Debian package that has each).
 */
import { access, readFile, readdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Tool → Debian package. */
export const BASE_BUILD_TOOLS: Record<string, string> = {
  mmdebstrap: 'mmdebstrap',
  mke2fs: 'e2fsprogs',
  busybox: 'busybox-static',
  'dpkg-query': 'dpkg',
  'qemu-img': 'qemu-utils',
};
export const INSTANCE_TOOLS: Record<string, string> = {
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-img': 'qemu-utils',
  timeout: 'coreutils',
  tar: 'tar',
  flock: 'util-linux',
};
export const VOLUME_TOOLS: Record<string, string> = {
  losetup: 'mount',
  mount: 'mount',
  umount: 'mount',
  fsck: 'util-linux',
  cp: 'coreutils',
};

export async function findOnPath(tool: string, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  const dirs = (env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin']);
  for (const dir of dirs) {
    const candidate = join(dir, tool);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/** Fails with ONE message listing every missing tool and the `apt-get install` line that fixes it. */
export async function requireTools(purpose: string, ...groups: Record<string, string>[]): Promise<void> {
  const missing = new Map<string, string>();
  for (const group of groups) {
    for (const [tool, pkg] of Object.entries(group)) {
      if (!(await findOnPath(tool))) missing.set(tool, pkg);
    }
  }
  if (missing.has('busybox') === false && groups.includes(BASE_BUILD_TOOLS)) {
    const busybox = await findOnPath('busybox');
    if (busybox && !(await isStatic(busybox))) missing.set('busybox (static)', 'busybox-static');
  }
  if (missing.size === 0) return;
  const packages = [...new Set(missing.values())].sort();
  // A plain error: the stage that failed is whichever was running (a launch serves both the instance
  // bake and the launch stage), and the pipeline names it.
  throw new Error(
    `${purpose} needs host tools that are missing: ${[...missing.keys()].join(', ')}. ` +
      `Install them with: apt-get install -y ${packages.join(' ')}`,
  );
}

/** A static ELF has no program interpreter; the dynamic busybox package cannot run inside the initrd. */
export async function isStatic(path: string): Promise<boolean> {
  const head = (await readFile(path)).subarray(0, 64 * 1024).toString('latin1');
  return !/\/lib(64)?\/ld-linux|ld-musl/.test(head);
}

export interface OsRelease {
  id: string;
  versionId: string | null;
  codename: string | null;
}

export async function readOsRelease(path = '/etc/os-release'): Promise<OsRelease> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) values[m[1]!] = m[2]!.replace(/^["']|["']$/g, '');
  }
  return {
    id: values.ID ?? 'linux',
    versionId: values.VERSION_ID ?? null,
    codename: values.VERSION_CODENAME ?? values.UBUNTU_CODENAME ?? null,
  };
}

/** Debian and Ubuntu codename → version, to name a base built for another suite (`--suite trixie`). */
const KNOWN_SUITES: Record<string, string> = {
  buster: 'debian-10',
  bullseye: 'debian-11',
  bookworm: 'debian-12',
  trixie: 'debian-13',
  focal: 'ubuntu-20.04',
  jammy: 'ubuntu-22.04',
  noble: 'ubuntu-24.04',
};

export function osNameFor(host: OsRelease, suite: string): string {
  if (host.codename === suite && host.versionId) return `${host.id}-${host.versionId}`;
  return KNOWN_SUITES[suite] ?? `${host.id}-${suite}`;
}

export interface AptSource {
  uri: string;
  suites: string[];
  components: string[];
  signedBy: string | null;
}

/**
 * The host's configured apt sources (one-line and deb822 formats) that belong to the distribution
 * itself: suites equal to the codename or `codename-*`, signed by the system keyring or the distro's
 * archive keyring. Third-party repositories (Node, cloud SDKs, …) would need their keys in the image.
 */
export async function hostAptSources(codename: string, etc = '/etc/apt'): Promise<AptSource[]> {
  const files: string[] = [join(etc, 'sources.list')];
  const dir = join(etc, 'sources.list.d');
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (name.endsWith('.list') || name.endsWith('.sources')) files.push(join(dir, name));
  }
  const sources: AptSource[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    sources.push(...(file.endsWith('.sources') ? parseDeb822(text) : parseOneLine(text)));
  }
  return sources
    .map((s) => ({ ...s, suites: s.suites.filter((x) => x === codename || x.startsWith(`${codename}-`)) }))
    .filter((s) => s.suites.length > 0 && isDistroKeyring(s.signedBy));
}

function isDistroKeyring(signedBy: string | null): boolean {
  return signedBy === null || /\/usr\/share\/keyrings\/(debian|ubuntu)-archive-keyring\.gpg$/.test(signedBy);
}

function parseOneLine(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const signed = /signed-by=(\S+)/.exec(m[1] ?? '');
    out.push({
      uri: m[2]!,
      suites: [m[3]!],
      components: (m[4] ?? '').split(/\s+/).filter(Boolean),
      signedBy: signed ? signed[1]! : null,
    });
  }
  return out;
}

function parseDeb822(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m) fields[m[1]!.toLowerCase()] = m[2]!.trim();
    }
    if (!(fields.types ?? '').split(/\s+/).includes('deb')) continue;
    if ((fields.enabled ?? 'yes').toLowerCase() === 'no') continue;
    for (const uri of (fields.uris ?? '').split(/\s+/).filter(Boolean)) {
      out.push({
        uri,
        suites: (fields.suites ?? '').split(/\s+/).filter(Boolean),
        components: (fields.components ?? 'main').split(/\s+/).filter(Boolean),
        signedBy: fields['signed-by'] ?? null,
      });
    }
  }
  return out;
}

/** One-line sources.list text for mmdebstrap. */
export function formatSources(sources: AptSource[]): string {
  return (
    sources
      .flatMap((s) => s.suites.map((suite) => `deb ${s.uri} ${suite} ${s.components.join(' ') || 'main'}`))
      .join('\n') + '\n'
  );
}
