import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSteps, type Step } from '../../src/common/steps.js';
import { CancelledError } from '../../src/common/errors.js';
import { Ledger } from '../../src/pipeline/ledger.js';

function recorder() {
  const events: string[] = [];
  const step = (name: string, behaviour: 'ok' | 'fail' | 'hang' = 'ok', timeoutMs?: number): Step<null> => ({
    name,
    timeoutMs,
    async run(_s, signal) {
      events.push(`run ${name}`);
      if (behaviour === 'fail') throw new Error(`${name} broke`);
      if (behaviour === 'hang') {
        await new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      }
    },
    async cleanup() {
      events.push(`cleanup ${name}`);
    },
  });
  return { events, step };
}

describe('step runner', () => {
  it('runs cleanups in reverse order on success', async () => {
    const { events, step } = recorder();
    const outcome = await runSteps([step('a'), step('b'), step('c')], null);
    expect(outcome.failure).toBeNull();
    expect(events).toEqual(['run a', 'run b', 'run c', 'cleanup c', 'cleanup b', 'cleanup a']);
  });

  it('stops at a failing step and still cleans up every started step, the failed one included', async () => {
    const { events, step } = recorder();
    const outcome = await runSteps([step('a'), step('b', 'fail'), step('c')], null);
    expect(outcome.failure?.step).toBe('b');
    expect(String(outcome.failure?.error)).toMatch(/b broke/);
    expect(events).toEqual(['run a', 'run b', 'cleanup b', 'cleanup a']);
  });

  it('aborts a step at its timeout and reports timed_out', async () => {
    const { events, step } = recorder();
    const outcome = await runSteps([step('a'), step('slow', 'hang', 50), step('c')], null);
    expect(outcome.interrupted).toBe('timed_out');
    expect(outcome.failure?.error).toBeInstanceOf(CancelledError);
    expect(events).toEqual(['run a', 'run slow', 'cleanup slow', 'cleanup a']);
  });

  it('does not wait forever for a step that ignores cancellation', async () => {
    const controller = new AbortController();
    const stubborn: Step<null> = { name: 'stubborn', run: () => new Promise(() => undefined) };
    setTimeout(() => controller.abort(new CancelledError('stop')), 20);
    const outcome = await runSteps([stubborn], null, { signal: controller.signal, abortGraceMs: 50 });
    expect(outcome.interrupted).toBe('cancelled');
  });

  it('keeps cleaning up after a cleanup fails, and reports it', async () => {
    const { events, step } = recorder();
    const broken: Step<null> = {
      name: 'broken',
      run: async () => undefined,
      cleanup: async () => {
        throw new Error('cannot delete');
      },
    };
    const outcome = await runSteps([step('a'), broken, step('c')], null);
    expect(outcome.cleanupErrors.map((e) => e.step)).toEqual(['broken']);
    expect(events).toEqual(['run a', 'run c', 'cleanup c', 'cleanup a']);
  });

  it('on SIGTERM mid-step, a real child process runs every cleanup in reverse order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-runner-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/runner-child.ts', dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('ready')) resolve();
      }),
    );
    // Every step's resource exists and is live in the ledger while the third step runs.
    expect(['first', 'second', 'third'].every((n) => existsSync(join(dir, `${n}.resource`)))).toBe(true);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stdout).toContain('interrupted=cancelled');
    expect((await readFile(join(dir, 'cleanup-order'), 'utf8')).trim().split('\n')).toEqual([
      'third',
      'second',
      'first',
    ]);
    expect(['first', 'second', 'third'].some((n) => existsSync(join(dir, `${n}.resource`)))).toBe(false);
    const ledger = await Ledger.open(join(dir, 'ledger.json'));
    expect(ledger.live()).toEqual([]);
    expect(ledger.entries().map((e) => e.state)).toEqual(['deleted', 'deleted', 'deleted']);
  });
});

describe('ledger', () => {
  it('persists every change atomically and lists live entries newest first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-ledger-'));
    const path = join(dir, 'ledger.json');
    const ledger = await Ledger.create(path, 'r1', { home: '/x' });
    await ledger.intend({ key: 'vol', provider: 'local', kind: 'volume', data: { path: '/x/v' } });
    await ledger.intend({ key: 'loop', provider: 'local', kind: 'attachment' });
    await ledger.created('loop', '/dev/loop7');
    const reread = await Ledger.open(path);
    expect(reread.runId).toBe('r1');
    expect(reread.providerOptions).toEqual({ home: '/x' });
    expect(reread.live().map((e) => [e.key, e.state, e.id])).toEqual([
      ['loop', 'live', '/dev/loop7'],
      ['vol', 'creating', null],
    ]);
    await reread.kept('vol');
    await reread.deleted('loop');
    expect((await Ledger.open(path)).live()).toEqual([]);
    await expect(reread.intend({ key: 'vol', provider: 'local', kind: 'volume' })).rejects.toThrow(
      /already has/,
    );
  });
});
