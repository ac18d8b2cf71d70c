/** Reads files out of an ext4 image disk with debugfs (no mount, so an image is never modified). */
import { execFileSync } from 'node:child_process';

/** debugfs reports a missing path on stderr and still exits 0: callers check the listing instead. */
function debugfs(disk: string, request: string): { stdout: string } {
  return {
    stdout: execFileSync('debugfs', ['-R', request, disk], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  };
}

/** Names in a directory of the image, or null when the directory does not exist. */
export function listDir(disk: string, dir: string): string[] | null {
  const out = debugfs(disk, `ls -p ${dir}`).stdout;
  if (!out.trim()) return null;
  return out
    .split('\n')
    .map((line) => line.split('/')[5])
    .filter((name): name is string => Boolean(name) && name !== '.' && name !== '..');
}

/** Content of a file of the image, or null when it does not exist. */
export function readImageFile(disk: string, path: string): string | null {
  const dir = path.slice(0, path.lastIndexOf('/')) || '/';
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (!(listDir(disk, dir) ?? []).includes(name)) return null;
  return debugfs(disk, `cat ${path}`).stdout;
}

/** The hygiene findings of SPEC §1.3 for an image disk; empty when the image is clean. */
export function hygieneFindings(disk: string): string[] {
  const findings: string[] = [];
  const ssh = listDir(disk, '/etc/ssh') ?? [];
  for (const name of ssh.filter((n) => n.startsWith('ssh_host_'))) findings.push(`host key /etc/ssh/${name}`);
  for (const dir of ['/root/.ssh', ...(listDir(disk, '/home') ?? []).map((u) => `/home/${u}/.ssh`)]) {
    for (const name of (listDir(disk, dir) ?? []).filter((n) => n.startsWith('authorized_keys'))) {
      findings.push(`authorized key ${dir}/${name}`);
    }
  }
  const machineId = readImageFile(disk, '/etc/machine-id');
  if (machineId === null) findings.push('/etc/machine-id missing (must exist, empty)');
  else if (machineId.trim() !== '') findings.push('/etc/machine-id is not empty');
  if (readImageFile(disk, '/root/.bash_history') !== null) findings.push('/root/.bash_history');
  if (readImageFile(disk, '/usr/sbin/policy-rc.d') !== null)
    findings.push('/usr/sbin/policy-rc.d left behind');
  if (listDir(disk, '/var/lib/ovenproof') !== null) findings.push('/var/lib/ovenproof identity state');
  const lists = (listDir(disk, '/var/lib/apt/lists') ?? []).filter((n) => n.endsWith('_Packages'));
  if (lists.length) findings.push(`apt lists: ${lists.join(', ')}`);
  const debs = (listDir(disk, '/var/cache/apt/archives') ?? []).filter((n) => n.endsWith('.deb'));
  if (debs.length) findings.push(`cached packages: ${debs.join(', ')}`);
  for (const name of listDir(disk, '/var/log') ?? []) {
    if (/\.log$/.test(name)) findings.push(`log /var/log/${name}`);
  }
  for (const machine of listDir(disk, '/var/log/journal') ?? []) {
    for (const name of listDir(disk, `/var/log/journal/${machine}`) ?? []) {
      if (name.endsWith('.journal')) findings.push(`journal /var/log/journal/${machine}/${name}`);
    }
  }
  return findings;
}
