/**
 * Image hygiene: what a baked image must not carry, because every instance
 * booted from it would share it (identity) or because it leaks the build (history, logs, build keys).
 * The first-boot identity init recreates the per-instance parts (host key, machine-id, hostname).
 */
import { shQuote } from '../ssh/shell.js';

export interface HygieneSpec {
  /** Paths or globs removed (recursively) if they exist. */
  removeGlobs: string[];
  /** Files truncated to zero length, kept in place (machine-id must exist but be empty). */
  emptyFiles: string[];
  /** Directories whose regular files are deleted while the directory tree stays. */
  clearDirs: string[];
}

/** The OS-independent part; OS plugins add their package-manager caches. */
export const COMMON_HYGIENE: HygieneSpec = {
  removeGlobs: [
    // Host keys: every clone would present the same key; the identity init installs the run's key.
    '/etc/ssh/ssh_host_*',
    // Build-time login keys (the instance bake's ephemeral key) and root's.
    '/root/.ssh/authorized_keys',
    '/root/.ssh/authorized_keys2',
    '/home/*/.ssh/authorized_keys',
    '/home/*/.ssh/authorized_keys2',
    // Shell and tool history.
    '/root/.bash_history',
    '/root/.lesshst',
    '/root/.viminfo',
    '/root/.python_history',
    '/root/.wget-hsts',
    '/home/*/.bash_history',
    '/home/*/.lesshst',
    '/home/*/.viminfo',
    '/home/*/.python_history',
    // dbus's copy of the machine id and shared entropy.
    '/var/lib/dbus/machine-id',
    '/var/lib/systemd/random-seed',
    // cloud-init's copy of the builder's user data (on EC2 it carries the run's host private key and
    // identity document), its per-instance state and logs; the next boot starts it afresh.
    '/var/lib/cloud/instances/*',
    '/var/lib/cloud/instance',
    '/var/lib/cloud/data/*',
    '/var/lib/cloud/sem/*',
    // DHCP leases of the builder.
    '/var/lib/dhcp/*.leases',
    '/var/lib/systemd/network/*.lease',
    // Scratch space.
    '/tmp/*',
    '/var/tmp/*',
  ],
  // Empty, not absent: systemd then treats the first boot as first boot and generates a fresh id.
  emptyFiles: ['/etc/machine-id'],
  clearDirs: ['/var/log'],
};

export function mergeHygiene(...specs: HygieneSpec[]): HygieneSpec {
  return {
    removeGlobs: specs.flatMap((s) => s.removeGlobs),
    emptyFiles: specs.flatMap((s) => s.emptyFiles),
    clearDirs: specs.flatMap((s) => s.clearDirs),
  };
}

/** Glob characters stay active, everything else is quoted, so a spec entry can never inject a command. */
function globArg(pattern: string): string {
  if (!pattern.startsWith('/') || pattern.includes('..')) {
    throw new Error(`hygiene path "${pattern}" must be absolute and must not contain ".."`);
  }
  return pattern
    .split(/([*?])/)
    .map((part) => (part === '*' || part === '?' ? part : part ? shQuote(part) : ''))
    .join('');
}

/**
 * A sh script applying the spec to the filesystem rooted at `/` of wherever it runs (chroot or live
 * builder). An unmatched glob stays literal and `rm -f` ignores it. `extraScript` runs last, for
 * per-image parts such as resetting the identity init's first-boot state.
 */
export function hygieneScript(spec: HygieneSpec, extraScript = ''): string {
  const lines = ['set -e'];
  if (spec.removeGlobs.length) lines.push(`rm -rf -- ${spec.removeGlobs.map(globArg).join(' ')}`);
  for (const file of spec.emptyFiles) lines.push(`if [ -e ${globArg(file)} ]; then : > ${globArg(file)}; fi`);
  for (const dir of spec.clearDirs)
    lines.push(`if [ -d ${globArg(dir)} ]; then find ${globArg(dir)} -xdev -type f -exec rm -f {} +; fi`);
  if (extraScript) lines.push(extraScript);
  return lines.join('\n');
}
