/**
 * The stage a failure is reported under is the stage that was running, whatever raised it: a local
 * launch on a host without QEMU fails in `launch` (the same check also guards the instance bake).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLocalProvider } from '../../src/providers/local/index.js';
import type { Provider } from '../../src/providers/provider.js';
import { runOnStandIn, standInProvider } from '../support/stand-ins.js';

describe('stage of a failure', () => {
  it('reports a local launch without QEMU tools as a launch failure', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-stage-'));
    const local = createLocalProvider({ home: join(dir, 'home') });
    // Images come from a stand-in (an earlier kept bake is found by its key); the launch is the real
    // local provider's, run with a PATH on which no QEMU tool exists.
    const provider = standInProvider({
      launch: async (...args: Parameters<Provider['launch']>) => {
        const path = process.env.PATH;
        process.env.PATH = join(dir, 'empty-bin');
        try {
          return await local.launch(...args);
        } finally {
          process.env.PATH = path;
        }
      },
    });
    const outcome = await runOnStandIn(provider, { provider: 'local', test: 'true', packages: 'jq' }, dir);
    expect(outcome.result.error?.message).toMatch(
      /launching a local instance needs host tools that are missing: .*qemu/,
    );
    expect(outcome.result.error?.stage).toBe('launch');
    expect(outcome.result.stages.find((s) => s.name === 'launch')?.status).toBe('failed');
    expect(outcome.result.stages.find((s) => s.name === 'bake')?.status).toBe('ok');
    expect(outcome.exitCode).toBe(2);
  });
});
