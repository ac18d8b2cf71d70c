/**
 * The baker: turns a request (base image, package files, OS packages) into a registered image,
 * reusing an earlier bake with the same bake key when there is one. Providers stay behind the Provider
 * interface, so the same code bakes locally (QEMU + loop devices) and on EC2.
 */
import { extname, join, resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { ConfigError, PipelineError } from '../common/errors.js';
import { ovenproofHome } from '../common/host/home.js';
import type { StepTiming } from '../common/steps.js';
import type { ImageManifest, Provider, RunContext } from '../providers/provider.js';
import { BAKE_FORMAT_VERSION, computeBakeKey } from './bake-key.js';
import { parsePackageSpec, resolveBaseImage } from './base-image.js';
import { IndexCache } from './index-cache.js';
import { instanceBake } from './instance-bake.js';
import { acquireKeyLock } from '../common/host/lock.js';
import { osPluginFor, pluginForPackageFile } from './os/index.js';
import { packageContent } from './package-digest/index.js';
import type { StepHook } from './steps/run.js';
import type { PackageFile, PreparedBake } from './steps/state.js';
import { volumeBake } from './volume-bake.js';

export interface BakeRequest {
  /** Image id, name, or `key=value` filters (the `base-image` setting). */
  baseImage: string;
  /** Local paths of package files (.deb); their digests feed the bake key. */
  packageFiles: string[];
  /** OS packages from the distribution. */
  packages: string[];
  /** Optional sh script run as root on the image after the install; part of the key. */
  provisionScript?: string;
  strategy: 'auto' | 'volume' | 'instance';
  sshUser: string;
}

export interface BakeOutcome {
  image: ImageManifest;
  baseImageId: string;
  bakeKey: string;
  cacheHit: boolean;
  strategy: 'volume' | 'instance' | 'cache';
  /** Per bake step (`copy`, `mount`, `install`…, `lock-wait`, `resolve`) and `total`. */
  durationsMs: Record<string, number>;
  /** The bake's steps with start times, for the result file (empty on a cache hit). */
  steps: StepTiming[];
}

export interface BakeOptions {
  /** Holds `locks/` and the package index cache; default `$OVENPROOF_HOME` or `~/.cache/ovenproof`. */
  home?: string;
  /** Reuse cached package lists younger than this (default 6 h); 0 disables the host cache. */
  indexMaxAgeMs?: number;
  /** Instance bake: how long the builder may take to accept SSH (default 5 min). */
  sshTimeoutMs?: number;
  /** Instance bake: the builder's dead-man switch (default 60 min). */
  builderTtlMs?: number;
  /** Called before and after every bake step (tests pause here to kill a bake mid-step). */
  hook?: StepHook;
  /** Brings a saved copy of this bake (e.g. from the Actions cache) into the provider's store, if any. */
  restoreCachedBake?: (bakeKey: string) => Promise<unknown>;
}

const SIX_HOURS = 6 * 3_600_000;

/** A registered image with this key that is not past its expiry (sweep may delete it any moment). */
export async function findCachedBake(provider: Provider, bakeKey: string): Promise<ImageManifest | null> {
  const now = Date.now();
  const hits = (await provider.listImages({ bakeKey })).filter((image) => {
    if (image.bakeKey !== bakeKey) return false;
    const expires = image.tags['ovenproof:expires-at'];
    return image.tags['ovenproof:kept'] === 'true' || !expires || Date.parse(expires) > now;
  });
  hits.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return hits[0] ?? null;
}

async function readPackageFiles(paths: string[]): Promise<PackageFile[]> {
  const files: PackageFile[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => null);
    if (!info?.isFile()) throw new ConfigError(`package: ${path} does not exist or is not a file`);
    pluginForPackageFile(path); // rejects files no OS plugin installs before reading them
    const content = await packageContent(path);
    files.push({ path: resolve(path), digest: content.digest, name: content.name });
  }
  return files;
}

async function resolveStrategy(
  provider: Provider,
  requested: BakeRequest['strategy'],
): Promise<'volume' | 'instance'> {
  if (requested === 'instance') return 'instance';
  const why = await provider.volumeBakeUnsupported();
  if (why === null) return 'volume';
  if (requested === 'volume') {
    throw new PipelineError(
      'bake',
      `bake-strategy volume is not possible here: ${why} (use bake-strategy: instance or auto)`,
    );
  }
  return 'instance';
}

function imageNameFor(base: ImageManifest, files: PackageFile[], packages: string[], key: string): string {
  const first = files[0]?.name ?? (packages[0] ? parsePackageSpec(packages[0]).name : 'bake');
  return `${base.name}-${first}-${key.slice(0, 12)}`.replace(/[^A-Za-z0-9._-]/g, '-');
}

export async function prepareBake(provider: Provider, request: BakeRequest): Promise<PreparedBake> {
  if (!['auto', 'volume', 'instance'].includes(request.strategy)) {
    throw new ConfigError(`bake-strategy: "${request.strategy}" is not one of auto, volume, instance`);
  }
  const packageFiles = await readPackageFiles(request.packageFiles);
  const wanted = [...request.packages, ...packageFiles.map((f) => f.name)];
  const base = await resolveBaseImage(provider, request.baseImage, wanted);
  const plugin = osPluginFor(base.os);
  plugin.validatePackageNames(request.packages);
  for (const file of packageFiles) {
    if (extname(file.path) !== plugin.packageExtension) {
      throw new ConfigError(
        `package: ${file.path} cannot be installed on ${base.os} (expects ${plugin.packageExtension} files)`,
      );
    }
  }
  const strategy = await resolveStrategy(provider, request.strategy);
  const bakeKey = computeBakeKey({
    baseImageId: base.id,
    packages: request.packages,
    packageFileDigests: packageFiles.map((f) => f.digest),
    provisionScript: request.provisionScript ?? null,
    strategy,
    formatVersion: BAKE_FORMAT_VERSION,
  });
  return {
    base,
    plugin,
    packageFiles,
    packages: [...new Set(request.packages)],
    provisionScript: request.provisionScript ?? null,
    bakeKey,
    strategy,
    imageName: imageNameFor(base, packageFiles, request.packages, bakeKey),
    sshUser: request.sshUser,
  };
}

export async function bakeImage(
  provider: Provider,
  request: BakeRequest,
  ctx: RunContext,
  options: BakeOptions = {},
): Promise<BakeOutcome> {
  const started = performance.now();
  const durationsMs: Record<string, number> = {};
  const home = options.home ?? ovenproofHome(process.env);
  ctx.progress({ label: 'Selecting base image', fraction: 0 });
  const bake = await prepareBake(provider, request);
  durationsMs.resolve = Math.round(performance.now() - started);
  const outcome = (image: ImageManifest, cacheHit: boolean, steps: StepTiming[] = []): BakeOutcome => {
    durationsMs.total = Math.round(performance.now() - started);
    if (cacheHit) ctx.progress({ label: `Reusing baked image ${image.id}`, fraction: 1 });
    return {
      image,
      baseImageId: bake.base.id,
      bakeKey: bake.bakeKey,
      cacheHit,
      strategy: cacheHit ? 'cache' : bake.strategy,
      durationsMs,
      steps,
    };
  };

  const indexCache =
    options.indexMaxAgeMs === 0
      ? null
      : new IndexCache({ dir: join(home, 'package-index'), maxAgeMs: options.indexMaxAgeMs ?? SIX_HOURS });
  let early = await findCachedBake(provider, bake.bakeKey);
  if (!early && options.restoreCachedBake) {
    ctx.progress({ label: 'Looking for a saved bake', fraction: 0 });
    await options.restoreCachedBake(bake.bakeKey);
    early = await findCachedBake(provider, bake.bakeKey);
  }
  if (early) return outcome(early, true);

  // One bake per key at a time: a second run with the same key waits here and then reuses the image.
  const lockStarted = performance.now();
  const lock = await acquireKeyLock(join(home, 'locks'), `bake-${bake.bakeKey}`, {
    signal: ctx.signal,
    onWait: (pid) => {
      ctx.log.info(`an identical bake is running (pid ${pid}); waiting to reuse its image`);
      ctx.progress({ label: 'Waiting for an identical bake', fraction: 0 });
    },
  });
  try {
    durationsMs['lock-wait'] = Math.round(performance.now() - lockStarted);
    const cached = await findCachedBake(provider, bake.bakeKey);
    if (cached) return outcome(cached, true);
    const baked =
      bake.strategy === 'volume'
        ? await volumeBake(provider, bake, ctx, {
            workDir: join(home, 'work'),
            indexCache,
            ...(options.hook ? { hook: options.hook } : {}),
          })
        : await instanceBake(provider, bake, ctx, {
            sshTimeoutMs: options.sshTimeoutMs ?? 300_000,
            ttlMs: options.builderTtlMs ?? 3_600_000,
            ...(options.hook ? { hook: options.hook } : {}),
          });
    for (const step of baked.steps) durationsMs[step.name] = step.durationMs;
    return outcome(baked.image, false, baked.steps);
  } finally {
    await lock.release();
  }
}
