import { readFileSync } from 'node:fs';

/**
 * Whether a process with this pid is running (EPERM: it is, but belongs to another user). An exited
 * process nobody has reaped (a zombie) still answers signal 0 but is not running: where the machine's
 * init does not reap orphans, an orphaned QEMU that powered off stays a zombie for good.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !/^[ZX]$/.test(procStatField(pid, 3) ?? '');
}

/** Field `n` (1-based, as in proc(5)) of /proc/<pid>/stat; null where it cannot be read. */
export function procStatField(pid: number, n: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[n - 3] ?? null;
  } catch {
    return null;
  }
}
