/**
 * The stage a failure is reported under is the stage that was running, whatever raised it: a local
 * launch on a host without QEMU fails in `launch` (the same check also guards the instance bake).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/log.js';
import { resolveConfig } from '../../src/pipeline/config.js';
import { PipelineEvents } from '../../src/pipeline/events.js';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { createLocalProvider } from '../../src/providers/local/index.js';
import type { ImageManifest, ImageQuery, Provider } from '../../src/providers/provider.js';

const base: ImageManifest = {
  id: 'img-base',
  name: 'debian-12',
  os: 'debian-12',
  arch: 'x86_64',
  parent: null,
  createdAt: '2026-01-01T00:00:00Z',
  packages: { bash: '5.2' },
  bakeKey: null,
  tags: {},
};

describe('stage of a failure', () => {
  it('reports a local launch without QEMU tools as a launch failure', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-stage-'));
    const local = createLocalProvider({ home: join(dir, 'home') });
    // Images come from a stand-in (an earlier kept bake is found by its key); the launch is the real
    // local provider's, run with a PATH on which no QEMU tool exists.
    const provider = {
      name: 'local',
      listImages: async (q: ImageQuery = {}) =>
        q.bakeKey
          ? [
              {
                ...base,
                id: 'img-baked',
                parent: base.id,
                bakeKey: q.bakeKey,
                tags: { 'ovenproof:kept': 'true' },
              },
            ]
          : [base],
      describeImage: async () => base,
      // A cache hit takes and releases this run's lease on the image.
      tagImage: async () => undefined,
      untagImage: async () => undefined,
      volumeBakeUnsupported: async () => null,
      launch: async (...args: Parameters<Provider['launch']>) => {
        const path = process.env.PATH;
        process.env.PATH = join(dir, 'empty-bin');
        try {
          return await local.launch(...args);
        } finally {
          process.env.PATH = path;
        }
      },
    } as unknown as Provider;
    const config = resolveConfig(
      { flags: { provider: 'local', test: 'true', packages: 'jq' } },
      { entry: 'cli', projectDir: dir },
    );
    const outcome = await runPipeline(
      {
        config,
        provider,
        providerSettings: { name: 'local', local: { home: join(dir, 'home') } },
        events: new PipelineEvents(),
        log: silentLogger,
        signal: new AbortController().signal,
        workDir: join(dir, 'work'),
        commit: null,
        repoRoot: null,
        repository: null,
      },
      'run',
    );
    expect(outcome.result.error?.message).toMatch(
      /launching a local instance needs host tools that are missing: .*qemu/,
    );
    expect(outcome.result.error?.stage).toBe('launch');
    expect(outcome.result.stages.find((s) => s.name === 'launch')?.status).toBe('failed');
    expect(outcome.result.stages.find((s) => s.name === 'bake')?.status).toBe('ok');
    expect(outcome.exitCode).toBe(2);
  });
});
