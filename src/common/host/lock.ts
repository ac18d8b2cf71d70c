/**
 * Locks between ovenproof processes on one host, of two kinds:
 *
 * - key locks (`acquireKeyLock`), one per bake key: a file created with O_EXCL holding the owner's pid
 *   and process start time. A lock whose owner is gone (killed bake) is stale and taken over, so a
 *   SIGKILL never blocks later bakes; waiting can be cancelled and reports who holds the lock.
 * - file locks (`acquireFileLock`, `withFileLock`): an exclusive flock(2) on a lock file, held by a tiny
 *   `flock` child process. The kernel drops the lock when that child exits, and the child exits when our
 *   end of its stdin closes, so a killed ovenproof can never leave the file locked, and shell scripts
 *   can share the same lock with `flock FILE`.
 */
import { spawn } from 'node:child_process';
import { open, readFile, readdir, rename, unlink, mkdir, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { CancelledError, PipelineError } from '../errors.js';

export interface HeldLock {
  release(): Promise<void>;
}

export interface HeldKeyLock extends HeldLock {
  path: string;
}

interface Owner {
  pid: number;
  host: string;
  /** Field 22 of /proc/PID/stat: tells a live owner from a new process that reused its pid. */
  start: string;
}

async function processStart(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

async function ownerAlive(owner: Owner): Promise<boolean> {
  if (owner.host !== hostname()) return true; // another machine sharing the directory: cannot tell, wait
  return (await processStart(owner.pid)) === owner.start;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new CancelledError('cancelled while waiting for a lock'));
      },
      { once: true },
    );
  });

export interface KeyLockOptions {
  signal?: AbortSignal;
  pollMs?: number;
  /** Called once when the lock is held by someone else, with the holder's pid. */
  onWait?: (holderPid: number) => void;
}

export async function acquireKeyLock(
  dir: string,
  name: string,
  options: KeyLockOptions = {},
): Promise<HeldKeyLock> {
  if (!/^[A-Za-z0-9._-]+$/.test(name))
    throw new Error(`lock name "${name}" has characters not allowed in a file name`);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.lock`);
  const me: Owner = { pid: process.pid, host: hostname(), start: (await processStart(process.pid)) ?? '' };
  await pruneStaleLocks(dir, path);
  let reportedWait = false;
  for (;;) {
    if (options.signal?.aborted) throw new CancelledError('cancelled while waiting for a lock');
    try {
      const handle = await open(path, 'wx', 0o644);
      try {
        await handle.writeFile(JSON.stringify(me));
      } finally {
        await handle.close();
      }
      return { path, release: () => releaseIfOwned(path, me) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = await readOwner(path);
    if (owner ? !(await ownerAlive(owner)) : await abandonedEmpty(path)) {
      await removeStaleLock(path);
      continue;
    }
    if (!reportedWait && owner) {
      reportedWait = true;
      options.onWait?.(owner.pid);
    }
    await sleep(options.pollMs ?? 200, options.signal);
  }
}

/**
 * Removes lock files of other keys whose owners died (a killed bake leaves one behind, and a key may
 * never be baked again to take it over), so the folder does not grow without bound.
 */
async function pruneStaleLocks(dir: string, except: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    if (!name.endsWith('.lock') || path === except) continue;
    const owner = await readOwner(path);
    if (owner ? await ownerAlive(owner) : !(await abandonedEmpty(path))) continue;
    await removeStaleLock(path);
  }
}

/** Rename first so that of two processes only one removes a stale lock file; the other sees ENOENT. */
async function removeStaleLock(path: string): Promise<void> {
  const stale = `${path}.stale-${process.pid}`;
  const renamed = await rename(path, stale).then(
    () => true,
    () => false,
  );
  if (renamed) await unlink(stale).catch(() => undefined);
}

/** An owner killed between creating the file and writing its pid leaves it empty; after a while it is stale. */
async function abandonedEmpty(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => null);
  return info !== null && info.size === 0 && Date.now() - info.mtimeMs > 10_000;
}

async function readOwner(path: string): Promise<Owner | null> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<Owner>;
    if (
      typeof parsed.pid === 'number' &&
      typeof parsed.host === 'string' &&
      typeof parsed.start === 'string'
    ) {
      return parsed as Owner;
    }
  } catch {
    // Missing (released meanwhile) or half-written by an owner that is creating it right now.
  }
  return null;
}

async function releaseIfOwned(path: string, me: Owner): Promise<void> {
  const owner = await readOwner(path);
  if (owner && owner.pid === me.pid && owner.host === me.host && owner.start === me.start) {
    await unlink(path).catch(() => undefined);
  }
}

export async function acquireFileLock(path: string, timeoutMs = 120_000): Promise<HeldLock> {
  await mkdir(dirname(path), { recursive: true });
  // `exec cat` keeps the lock until stdin reaches EOF, i.e. until release() or our death.
  const child = spawn(
    'flock',
    [
      '--exclusive',
      '--timeout',
      String(Math.ceil(timeoutMs / 1000)),
      path,
      'sh',
      '-c',
      'echo locked; exec cat',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout.once('data', () => resolve());
    child.on('error', (error) =>
      reject(new PipelineError('bake', `cannot run flock for ${path}: ${error.message}`)),
    );
    child.on('close', (code) =>
      reject(
        new PipelineError(
          'bake',
          `could not lock ${path} within ${timeoutMs} ms (flock exit ${code}) ${err}`,
        ),
      ),
    );
  });
  // The child stays referenced while the lock is held: an unreferenced child lets Node exit (code 13,
  // unsettled top-level await) while release() is still waiting for it to close.
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      child.stdin.end();
      await exited;
    },
  };
}

export async function withFileLock<T>(path: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T> {
  const lock = await acquireFileLock(path, timeoutMs);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
