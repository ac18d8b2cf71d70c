/**
 * Stand-ins for unit tests of the pipeline and the baker: a base image, the image listing of a provider
 * that holds an earlier kept bake for any bake key (so a run bakes nothing and goes straight to its
 * launch), such a provider with the instance side a test gives it, and a whole `run` of the pipeline on
 * it, configured by CLI flags.
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

/**
 * A local provider whose images are those of `imagesWithKeptBake`; a cache hit takes and releases
 * the run's lease on the image (tags). The instance side (launch, terminate, …) is the test's.
 */
export function standInProvider(instanceSide: Record<string, unknown>): Provider {
  return {
    name: 'local',
    listImages: imagesWithKeptBake,
    describeImage: async () => BASE_IMAGE,
    tagImage: async () => undefined,
    untagImage: async () => undefined,
    volumeBakeUnsupported: async () => null,
    ...instanceSide,
  } as unknown as Provider;
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
