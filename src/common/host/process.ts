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
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name, which may itself contain spaces and parentheses.
    return /^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}
