/**
 * Stand-ins for unit tests of the pipeline and the baker: a base image, the image listing of a provider
 * that holds an earlier kept bake for any bake key (so a run bakes nothing and goes straight to its
 * launch), and a whole `run` of the pipeline on such a provider, configured by CLI flags.
 */
import { join } from 'node:path';
import { silentLogger } from '../../src/common/log.js';
import { resolveConfig } from '../../src/pipeline/config.js';
import { PipelineEvents } from '../../src/pipeline/events.js';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import type { ImageManifest, ImageQuery, Provider } from '../../src/providers/provider.js';

export const BASE_IMAGE: ImageManifest = {
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

export async function imagesWithKeptBake(query: ImageQuery = {}): Promise<ImageManifest[]> {
  return query.bakeKey
    ? [
        {
          ...BASE_IMAGE,
          id: 'img-baked',
          parent: BASE_IMAGE.id,
          bakeKey: query.bakeKey,
          tags: { 'ovenproof:kept': 'true' },
        },
      ]
    : [BASE_IMAGE];
}

/** `ovenproof run` with these flags in the project folder `dir` (its work folder and home inside it). */
export function runOnStandIn(provider: Provider, flags: Record<string, string>, dir: string) {
  const config = resolveConfig({ flags }, { entry: 'cli', projectDir: dir });
  return runPipeline(
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
}
