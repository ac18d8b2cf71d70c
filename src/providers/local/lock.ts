/**
 * An exclusive flock(2) on a lock file, held by a tiny `flock` child process. The kernel drops the lock
 * when that child exits, and the child exits when our end of its stdin closes, so a killed ovenproof
 * can never leave the store locked, and shell scripts can share the same lock with `flock FILE`.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PipelineError } from '../../common/errors.js';

export interface HeldLock {
  release(): Promise<void>;
}

export async function acquireLock(path: string, timeoutMs = 120_000): Promise<HeldLock> {
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

export async function withLock<T>(path: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T> {
  const lock = await acquireLock(path, timeoutMs);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
