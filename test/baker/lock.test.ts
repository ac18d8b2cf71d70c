import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireKeyLock } from '../../src/common/host/lock.js';

const dir = () => mkdtempSync(join(tmpdir(), 'ovenproof-lock-'));

describe('acquireKeyLock', () => {
  it('makes a second holder wait until the first releases', async () => {
    const d = dir();
    const first = await acquireKeyLock(d, 'bake-k');
    const order: string[] = [];
    let waitedFor = 0;
    const second = acquireKeyLock(d, 'bake-k', { pollMs: 20, onWait: (pid) => (waitedFor = pid) }).then(
      (lock) => {
        order.push('second acquired');
        return lock;
      },
    );
    await new Promise((r) => setTimeout(r, 100));
    order.push('first releases');
    await first.release();
    const held = await second;
    expect(order).toEqual(['first releases', 'second acquired']);
    expect(waitedFor).toBe(process.pid);
    await held.release();
    expect(existsSync(join(d, 'bake-k.lock'))).toBe(false);
  });

  it('takes over or prunes the lock of a killed process', async () => {
    const d = dir();
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('${join(process.cwd(), 'src/common/host/lock.ts')}').then(async (m) => { await m.acquireKeyLock(${JSON.stringify(d)}, 'bake-k'); console.log('held'); setInterval(() => {}, 1000); })`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(join(d, 'bake-k.lock'))).toBe(true);
    const live = await acquireKeyLock(d, 'bake-live');
    // Taking any other key prunes the dead owner's file, and never a live one.
    const other = await acquireKeyLock(d, 'bake-other');
    expect(existsSync(join(d, 'bake-k.lock'))).toBe(false);
    expect(existsSync(join(d, 'bake-live.lock'))).toBe(true);
    await other.release();
    await live.release();
  });

  it('can be cancelled while waiting', async () => {
    const d = dir();
    const first = await acquireKeyLock(d, 'bake-k');
    const controller = new AbortController();
    const waiting = acquireKeyLock(d, 'bake-k', { pollMs: 20, signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toThrow(/cancelled while waiting for a lock/);
    await first.release();
  });

  it('refuses names that are not file names', async () => {
    await expect(acquireKeyLock(dir(), '../x')).rejects.toThrow(/not allowed in a file name/);
  });
});
