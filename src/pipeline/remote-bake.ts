/**
 * The bake stage with `baker-url`: the bake happens in a bakery. Uploads the package files it lacks,
 * asks for the bake (joining an identical one that is queued, running or done), turns its events into
 * the run's progress, and cancels it when the run is cancelled. The baked image is the bakery's bake
 * cache entry: the run launches it but never deletes it.
 */
import { basename } from 'node:path';
import type { BakeOutcome } from '../baker/index.js';
import { BakeryClient, type RemoteBake } from '../bakery/index.js';
import { CancelledError, ConfigError, PipelineError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Provider, RunContext } from '../providers/provider.js';
import type { Config } from './config.js';

export interface RemoteBakeOutcome extends BakeOutcome {
  bakedBy: string;
  bakeId: string;
}

/** Where the bakery credential comes from: the Action's OIDC token, else the static baker-token. */
export type BakerCredential = () => Promise<string>;

/** The bakery of this run and the region it asks for (null: the bakery's own). */
export interface BakeryConnection {
  client: BakeryClient;
  region: string | null;
}

/** The run's region as its provider settings have it (EC2: `region` or AWS_REGION), else the config's. */
export function runRegionOf(
  providerSettings: Record<string, unknown>,
  config: Pick<Config, 'region'>,
): string | null {
  const own = providerSettings[String(providerSettings.name)] as { region?: unknown } | undefined;
  return typeof own?.region === 'string' ? own.region : config.region;
}

export async function bakeryClientFor(
  url: string,
  config: Pick<Config, 'bakerToken' | 'bakerAudience'>,
  oidcToken: BakerCredential | null,
  log: Logger,
): Promise<BakeryClient> {
  let token: string;
  let hint: string;
  if (config.bakerAudience) {
    if (!oidcToken)
      throw new ConfigError(
        'baker-audience: OIDC tokens exist only inside GitHub Actions; outside it set baker-token instead',
      );
    try {
      token = await oidcToken();
    } catch (error) {
      throw new ConfigError(
        `baker-audience: could not get a GitHub OIDC token (${errorMessage(error)}); the workflow needs \`permissions: id-token: write\``,
      );
    }
    hint = `check that the bakery's --oidc-audience is "${config.bakerAudience}" and its --allow-repo covers this repository`;
  } else if (config.bakerToken) {
    token = config.bakerToken;
    hint = 'set baker-token to a token from `ovenproof bakery token create` on the bakery';
  } else {
    throw new ConfigError('baker-url: also set baker-token, or baker-audience in GitHub Actions (OIDC)');
  }
  log.mask(token);
  return new BakeryClient({ url, token, credentialHint: hint });
}

export async function bakeRemotely(
  { client, region }: BakeryConnection,
  provider: Provider,
  request: {
    baseImage: string;
    packageFiles: string[];
    packages: string[];
    strategy: Config['bakeStrategy'];
  },
  ctx: RunContext,
): Promise<RemoteBakeOutcome> {
  const started = performance.now();
  ctx.progress({ label: `Uploading packages to ${client.url}`, fraction: 0 });
  const files: string[] = [];
  for (const path of request.packageFiles) {
    const { sha256, uploaded } = await client.ensureFile(path, ctx.signal);
    ctx.log.info(
      `${basename(path)}: ${uploaded ? 'uploaded to' : 'already on'} the bakery (sha256 ${sha256.slice(0, 12)})`,
    );
    files.push(sha256);
  }
  const { bake: asked, created } = await client.requestBake(
    {
      baseImage: request.baseImage,
      packages: request.packages,
      files,
      strategy: request.strategy,
      ...(region ? { region } : {}),
    },
    ctx.signal,
  );
  ctx.log.info(
    `bakery ${client.url}: bake ${asked.id} ${created ? 'queued' : `joined (${asked.state}, requested by ${asked.requestedBy})`}`,
  );
  let bake: RemoteBake = asked;
  // The bakery's steps as this run saw them start, for the result file's step timings.
  const seen: Array<{ name: string; at: number }> = [];
  if (asked.state === 'queued' || asked.state === 'running') {
    try {
      bake = await client.follow(
        asked.id,
        (event) => {
          if (event.type === 'step' && typeof event.data.step === 'string')
            seen.push({ name: event.data.step, at: Date.parse(String(event.data.at)) || Date.now() });
          if (event.type === 'progress' && typeof event.data.step === 'string')
            ctx.progress({ label: `Bakery: ${event.data.step}`, fraction: Number(event.data.progress) || 0 });
          else if (event.type === 'log' && typeof event.data.message === 'string')
            ctx.log.info(`bakery: ${event.data.message}`);
        },
        ctx.signal,
      );
    } catch (error) {
      if (!ctx.signal.aborted) throw error;
      // The run was cancelled: cancel the bake too (the bakery cleans up what it made).
      const cancelled = await client.cancelBake(asked.id).catch((cancelError: unknown) => {
        ctx.log.warn(`could not cancel bake ${asked.id} at ${client.url}: ${errorMessage(cancelError)}`);
        return null;
      });
      if (cancelled) ctx.log.info(`cancelled bake ${asked.id} at ${client.url} (${cancelled.state})`);
      throw error instanceof CancelledError
        ? error
        : new CancelledError(`bake cancelled: ${errorMessage(error)}`);
    }
  }
  if (bake.state !== 'succeeded' || !bake.image)
    throw new PipelineError(
      'bake',
      `bakery ${client.url}: bake ${bake.id} ${bake.state}${bake.error ? `: ${bake.error.message}` : ''}`,
    );
  const image = await provider.describeImage(bake.image.id);
  if (!image)
    throw new PipelineError(
      'bake',
      `bakery ${client.url} baked image ${bake.image.id}, but the ${provider.name} provider of this run cannot see it (the bakery must bake for the same provider and region)`,
    );
  // Joining a bake that had already finished reuses its image: a cache hit for this run.
  const cacheHit = bake.cacheHit || (!created && asked.state === 'succeeded');
  const strategy = image.tags['ovenproof:bake-strategy'];
  return {
    image,
    baseImageId: bake.image.baseImageId || (image.parent ?? ''),
    // A bakery that relayed the bake to a peer keys it by the request; the image carries the real key.
    bakeKey: image.bakeKey ?? bake.bakeKey,
    cacheHit,
    strategy: cacheHit ? 'cache' : strategy === 'instance' ? 'instance' : 'volume',
    durationsMs: { ...bake.durationsMs, remote: Math.round(performance.now() - started) },
    steps: seen.map((step, index) => ({
      name: step.name,
      startedAt: new Date(step.at).toISOString(),
      durationMs: Math.max(
        0,
        (seen[index + 1]?.at ?? (Date.parse(bake.finishedAt ?? '') || step.at)) - step.at,
      ),
    })),
    bakedBy: client.url,
    bakeId: bake.id,
  };
}
