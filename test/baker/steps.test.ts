import { describe, expect, it } from 'vitest';
import { runSteps, type Step } from '../../src/baker/steps.js';
import { silentLogger } from '../../src/common/log.js';
import type { RunContext } from '../../src/providers/provider.js';

function context(signal = new AbortController().signal, labels: string[] = []): RunContext {
  return {
    runId: 'run-1',
    expiresAt: new Date(Date.now() + 3_600_000),
    journal: {
      intend: async () => undefined,
      created: async () => undefined,
      deleted: async () => undefined,
      kept: async () => undefined,
    },
    signal,
    log: silentLogger,
    progress: (p) => labels.push(`${p.label}@${(p.fraction ?? 0).toFixed(2)}`),
    tags: {},
  };
}

function step(name: string, log: string[], fail = false): Step<null> {
  return {
    name,
    label: `Doing ${name}`,
    weight: 1,
    run: async () => {
      log.push(`run ${name}`);
      if (fail) throw new Error(`${name} broke`);
    },
    cleanup: async () => {
      log.push(`cleanup ${name}`);
    },
  };
}

describe('runSteps', () => {
  it('runs steps in order, then every cleanup in reverse, and times each step', async () => {
    const log: string[] = [];
    const labels: string[] = [];
    const durations: Record<string, number> = {};
    await runSteps([step('a', log), step('b', log)], null, context(undefined, labels), durations);
    expect(log).toEqual(['run a', 'run b', 'cleanup b', 'cleanup a']);
    expect(Object.keys(durations)).toEqual(['a', 'b']);
    expect(labels).toEqual(['Doing a@0.00', 'Doing b@0.50', 'Doing b@1.00']);
  });

  it('undoes the failed step and those before it, never the ones after, and rethrows', async () => {
    const log: string[] = [];
    await expect(
      runSteps([step('a', log), step('b', log, true), step('c', log)], null, context(), {}),
    ).rejects.toThrow('b broke');
    expect(log).toEqual(['run a', 'run b', 'cleanup b', 'cleanup a']);
  });

  it('keeps cleaning up when one cleanup fails and reports it', async () => {
    const log: string[] = [];
    const broken: Step<null> = { ...step('b', log), cleanup: async () => Promise.reject(new Error('stuck')) };
    await expect(runSteps([step('a', log), broken], null, context(), {})).rejects.toThrow(/Doing b: stuck/);
    expect(log).toEqual(['run a', 'run b', 'cleanup a']);
  });

  it('stops before the next step when aborted and still cleans up', async () => {
    const log: string[] = [];
    const controller = new AbortController();
    const aborting: Step<null> = { ...step('a', log), run: async () => controller.abort() };
    await expect(runSteps([aborting, step('b', log)], null, context(controller.signal), {})).rejects.toThrow(
      /cancelled before "Doing b"/,
    );
    expect(log).toEqual(['cleanup a']);
  });

  it('calls the hook around each step', async () => {
    const seen: string[] = [];
    await runSteps(
      [step('a', [])],
      null,
      context(),
      {},
      { hook: (name, phase) => void seen.push(`${phase} ${name}`) },
    );
    expect(seen).toEqual(['start a', 'end a']);
  });
});
