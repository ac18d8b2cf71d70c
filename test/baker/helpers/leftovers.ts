/**
 * What a killed bake may have left behind, judged from its own ledger (so that other suites sharing the
 * home do not disturb the check): loop devices, mounts, QEMU processes, folders and temp files.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LedgerEntry } from '../../../src/providers/provider.js';

function loopBackFiles(): string[] {
  const out = execFileSync('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE'], {
    encoding: 'utf8',
  });
  if (!out.trim()) return [];
  const parsed = JSON.parse(out) as { loopdevices?: Array<{ name: string; 'back-file': string | null }> };
  return (parsed.loopdevices ?? []).map((d) => `${d.name} ${d['back-file'] ?? ''}`);
}

function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => Boolean(p));
}

function processCmdlines(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      found.push(`${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Files under `dir` (a few levels deep) whose names mark them as temporary files of process `pid`. */
function tempFilesOf(dir: string, pid: number, depth = 3): string[] {
  if (depth < 0 || !existsSync(dir)) return [];
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name.includes(`.${pid}.`) || name.includes(`.tmp-${pid}-`) || name.includes(`.stale-${pid}`))
      found.push(path);
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      continue;
    }
    if (isDir && name !== 'images') found.push(...tempFilesOf(path, pid, depth - 1));
  }
  return found;
}

export function leftovers(home: string, entries: readonly LedgerEntry[], childPid: number): string[] {
  const problems: string[] = [];
  const loops = loopBackFiles();
  const mounts = mountPoints();
  const processes = processCmdlines();
  const paths: string[] = [];
  for (const entry of entries) {
    const id = entry.id ?? entry.key.split(':').slice(1).join(':');
    switch (entry.kind) {
      case 'volume':
        paths.push(join(home, 'volumes', id));
        break;
      case 'snapshot':
        paths.push(join(home, 'snapshots', id));
        break;
      case 'instance':
        paths.push(join(home, 'instances', id));
        for (const p of processes)
          if (p.includes('qemu-system') && p.includes(id)) problems.push(`QEMU still running: ${p}`);
        break;
      case 'mount':
      case 'file':
        paths.push(entry.data.path ?? id);
        break;
      default:
        break;
    }
  }
  for (const path of paths) {
    if (existsSync(path)) problems.push(`still exists: ${path}`);
    for (const loop of loops) if (loop.includes(path)) problems.push(`loop device still attached: ${loop}`);
    for (const point of mounts)
      if (point === path || point.startsWith(`${path}/`)) problems.push(`still mounted: ${point}`);
  }
  for (const file of tempFilesOf(home, childPid)) problems.push(`temp file left: ${file}`);
  return problems;
}
