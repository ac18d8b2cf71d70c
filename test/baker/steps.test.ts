import { describe, expect, it } from 'vitest';
import type { Step } from '../../src/common/steps.js';
import { silentLogger } from '../../src/common/log.js';
import type { Provider, RunContext } from '../../src/providers/provider.js';
import { runBakeSteps } from '../../src/baker/steps/run.js';
import type { BakeState, PreparedBake } from '../../src/baker/steps/state.js';

function state(signal = new AbortController().signal, labels: string[] = []): BakeState {
  const ctx: RunContext = {
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
  return {
    provider: {} as Provider,
    ctx,
    bake: {} as PreparedBake,
    target: null,
    root: null,
    indexCache: null,
    sourcesDigest: null,
    staged: null,
    packages: null,
    image: null,
  };
}

function step(name: string, log: string[], fail = false): Step<BakeState> {
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

describe('runBakeSteps', () => {
  it('runs steps in order, then every cleanup in reverse, reports progress and times each step', async () => {
    const log: string[] = [];
    const labels: string[] = [];
    const timings = await runBakeSteps([step('a', log), step('b', log)], state(undefined, labels));
    expect(log).toEqual(['run a', 'run b', 'cleanup b', 'cleanup a']);
    expect(timings.map((t) => t.name)).toEqual(['a', 'b']);
    expect(timings.every((t) => t.durationMs >= 0 && !Number.isNaN(Date.parse(t.startedAt)))).toBe(true);
    expect(labels).toEqual(['Doing a@0.00', 'Doing b@0.50', 'Doing b@1.00']);
  });

  it('undoes the failed step and those before it, never the ones after, and rethrows', async () => {
    const log: string[] = [];
    await expect(
      runBakeSteps([step('a', log), step('b', log, true), step('c', log)], state()),
    ).rejects.toThrow('b broke');
    expect(log).toEqual(['run a', 'run b', 'cleanup b', 'cleanup a']);
  });

  it('keeps cleaning up when one cleanup fails and reports it by label', async () => {
    const log: string[] = [];
    const broken: Step<BakeState> = {
      ...step('b', log),
      cleanup: async () => Promise.reject(new Error('stuck')),
    };
    await expect(runBakeSteps([step('a', log), broken], state())).rejects.toThrow(/Doing b: stuck/);
    expect(log).toEqual(['run a', 'run b', 'cleanup a']);
  });

  it('stops before the next step when aborted, with the abort reason, and still cleans up', async () => {
    const log: string[] = [];
    const controller = new AbortController();
    const aborting: Step<BakeState> = {
      ...step('a', log),
      run: async () => controller.abort(new Error('stopped by the test')),
    };
    await expect(runBakeSteps([aborting, step('b', log)], state(controller.signal))).rejects.toThrow(
      'stopped by the test',
    );
    expect(log).toEqual(['cleanup a']);
  });

  it('calls the hook around each successful step', async () => {
    const seen: string[] = [];
    await runBakeSteps([step('a', [])], state(), (name, phase) => void seen.push(`${phase} ${name}`));
    expect(seen).toEqual(['start a', 'end a']);
  });
});
