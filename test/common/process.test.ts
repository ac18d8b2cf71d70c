import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { isProcessAlive, procStatField } from '../../src/common/host/process.js';

describe('isProcessAlive', () => {
  it('is true for a running process and false for a pid that does not exist', () => {
    expect(isProcessAlive(process.pid)).toBe(true);
    expect(isProcessAlive(2 ** 22 + 1)).toBe(false);
  });

  it('is false for an exited process its parent never reaped (a zombie), which still answers signal 0', async () => {
    // The shell starts a short sleep, then becomes a long sleep that never waits for it.
    const parent = spawn('bash', ['-c', 'sleep 0.1 & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const pid = Number(
        await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(String(d)))),
      );
      let state: string | null = null;
      for (let i = 0; i < 100 && state !== 'Z'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        state = procStatField(pid, 3);
      }
      expect(state).toBe('Z');
      expect(() => process.kill(pid, 0)).not.toThrow();
      expect(isProcessAlive(pid)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
