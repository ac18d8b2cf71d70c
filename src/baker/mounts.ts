/**
 * Mount bookkeeping for the chroot: what is mounted under a root, unmounting in reverse with retries,
 * and naming the processes that keep a mount busy (the "device busy" that chroot-bake users hit).
 */
import { errorMessage } from '../common/errors.js';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { readMounts } from '../common/host/mountinfo.js';
import { runCommand, type CommandRunner } from '../common/host/command.js';

export { mountsUnder } from '../common/host/mountinfo.js';

export async function isSharedMount(path: string): Promise<boolean> {
  return (await readMounts()).some((m) => m.point === path && m.shared);
}

export async function isMounted(path: string): Promise<boolean> {
  return (await readMounts()).some((m) => m.point === path);
}

export interface Holder {
  pid: number;
  command: string;
}

/** Processes using the filesystem mounted at `path`, from `fuser -m` (psmisc), with their names. */
export async function busyHolders(path: string, run: CommandRunner = runCommand): Promise<Holder[]> {
  let pids: number[];
  try {
    // fuser prints the pids on stdout (the access letters and names go to stderr); exit 1 = none.
    const result = await run(['fuser', '-m', path], { privileged: true, okCodes: [1] });
    pids = [...result.stdout.matchAll(/\d+/g)].map((m) => Number(m[0]));
  } catch {
    return [];
  }
  const holders: Holder[] = [];
  for (const pid of [...new Set(pids)]) {
    const command = await readFile(`/proc/${pid}/comm`, 'utf8').then(
      (text) => text.trim(),
      () => '?',
    );
    holders.push({ pid, command });
  }
  return holders;
}

export const describeHolders = (holders: Holder[]): string =>
  holders.map((h) => `pid ${h.pid} (${h.command})`).join(', ');

export interface UnmountOptions {
  attempts?: number;
  delayMs?: number;
  run?: CommandRunner;
  /** Where to report that a mount is still busy before retrying. */
  warn?: (message: string) => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Unmounts `path` (no-op when it is not mounted), retrying while it is busy; the final error names the
 * processes that hold it so that the user knows what to stop.
 */
export async function unmountWithRetry(path: string, options: UnmountOptions = {}): Promise<void> {
  const run = options.run ?? runCommand;
  const attempts = options.attempts ?? 6;
  const delayMs = options.delayMs ?? 250;
  let lastError = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (!(await isMounted(path))) return;
    try {
      await run(['umount', path], { privileged: true });
      return;
    } catch (error) {
      lastError = errorMessage(error);
      if (!/busy/i.test(lastError)) throw error;
      const holders = await busyHolders(path, run);
      const who = holders.length ? `held by ${describeHolders(holders)}` : 'no process found holding it';
      options.warn?.(`${path} is busy (${who}); retry ${attempt}/${attempts}`);
      if (attempt === attempts) {
        throw new Error(`cannot unmount ${path}: target is busy, ${who}`, { cause: error });
      }
      await sleep(delayMs * attempt);
    }
  }
  throw new Error(`cannot unmount ${path}: ${lastError}`);
}

/**
 * Processes whose root directory is `root` or below: daemons a package started inside the chroot
 * despite the service block. They would keep the volume busy, and they are the bake's to stop.
 */
export async function processesInRoot(root: string): Promise<Holder[]> {
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const found: Holder[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const processRoot = await readlink(`/proc/${entry}/root`).catch(() => null);
    if (processRoot === null || (processRoot !== root && !processRoot.startsWith(prefix))) continue;
    const command = await readFile(`/proc/${entry}/comm`, 'utf8').then(
      (text) => text.trim(),
      () => '?',
    );
    found.push({ pid: Number(entry), command });
  }
  return found;
}
