/**
 * Peers: the bakeries of other regions. A bakery bakes in its own region (an EBS volume attaches only
 * in its availability zone); a request for a region that has a `--peer` is forwarded to that region's
 * bakery and relayed: the peer gets the package files it lacks, the bake request (marked as forwarded,
 * so it is never forwarded again and a loop A→B→A cannot form), and this bakery's job follows the
 * peer's bake, turning its steps, progress and log lines into its own events and ending with the
 * peer's image. Cancelling the job here cancels the peer's bake.
 *
 * Everything here wraps a BakeExecutor, so the job runner (queue, events, heartbeats, cancel, graceful
 * stop) treats a relayed bake like any other.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { ConfigError, PipelineError, errorMessage } from '../common/errors.js';
import type { RunContext } from '../providers/provider.js';
import { BakeryClient, type RemoteBake } from './client.js';
import type { BakeExecutor, ExecutorOutcome, ExecutorRequest } from './executor.js';

export interface Peer {
  region: string;
  url: string;
  /** Bearer token this bakery presents to the peer (a static token of the peer's token file). */
  token: string;
}

const REGION_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const URL_PATTERN = /^https?:\/\/[^\s/]+(\/\S*)?$/i;

function splitPair(flag: string, text: string, what: string): [string, string] {
  const cut = text.indexOf('=');
  if (cut <= 0) throw new ConfigError(`${flag}: "${text}" is not ${what}`);
  return [text.slice(0, cut).trim(), text.slice(cut + 1).trim()];
}

/** The token in a peer token file: its first line that is neither empty nor a `#` comment. */
async function readPeerToken(flag: string, path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${flag}: cannot read ${path}: ${errorMessage(error)}`);
  }
  const token = text
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line && !line.startsWith('#'));
  if (!token) throw new ConfigError(`${flag}: ${path} holds no token`);
  if (/\s/.test(token)) throw new ConfigError(`${flag}: the first line of ${path} is not a single token`);
  return token;
}

/**
 * Reads `--peer REGION=URL` and `--peer-token-file [REGION=]FILE` (a file without a region is the
 * token for every peer that has none of its own). Every peer needs a token; none may be this
 * bakery's own region or appear twice.
 */
export async function parsePeers(
  peerArgs: readonly string[],
  tokenFileArgs: readonly string[],
  ownRegion: string | null,
): Promise<Peer[]> {
  const urls = new Map<string, string>();
  for (const arg of peerArgs) {
    const [region, url] = splitPair(
      '--peer',
      arg,
      'REGION=URL (e.g. eu-west-1=https://bakery-eu.example.com)',
    );
    if (!REGION_PATTERN.test(region)) throw new ConfigError(`--peer: "${region}" is not a region name`);
    if (!URL_PATTERN.test(url))
      throw new ConfigError(
        `--peer ${region}: "${url}" is not an http(s) URL such as https://bakery-eu.example.com`,
      );
    if (region === ownRegion)
      throw new ConfigError(
        `--peer ${region}: that is this bakery's own region (--region); a peer serves another one`,
      );
    if (urls.has(region)) throw new ConfigError(`--peer ${region}: given twice`);
    urls.set(region, url.replace(/\/+$/, ''));
  }
  let shared: string | null = null;
  const own = new Map<string, string>();
  for (const arg of tokenFileArgs) {
    if (!arg.includes('=')) {
      if (shared) throw new ConfigError('--peer-token-file: more than one FILE without a REGION= prefix');
      shared = await readPeerToken('--peer-token-file', arg);
      continue;
    }
    const [region, path] = splitPair('--peer-token-file', arg, '[REGION=]FILE');
    if (!urls.has(region))
      throw new ConfigError(`--peer-token-file ${region}: there is no --peer ${region}=URL`);
    if (own.has(region)) throw new ConfigError(`--peer-token-file ${region}: given twice`);
    own.set(region, await readPeerToken(`--peer-token-file ${region}`, path));
  }
  if (urls.size === 0 && tokenFileArgs.length > 0)
    throw new ConfigError('--peer-token-file: only used with --peer REGION=URL');
  return [...urls].map(([region, url]) => {
    const token = own.get(region) ?? shared;
    if (!token)
      throw new ConfigError(
        `--peer ${region}: no token for it; give --peer-token-file ${region}=FILE (or one FILE for every peer) holding a token from \`ovenproof bakery token create\` on that bakery`,
      );
    return { region, url, token };
  });
}

/** Why this bakery cannot take a request for `region` (null when it bakes it or forwards it). */
export function regionRefusal(
  executor: Pick<BakeExecutor, 'region' | 'peerRegions'>,
  request: { region?: string; forwardedBy?: string },
): string | null {
  const { region } = request;
  if (!region || !executor.region || region === executor.region) return null;
  const base = `region: this bakery bakes in ${executor.region}, not ${region}`;
  if (request.forwardedBy)
    return `${base}; the request was forwarded by the ${request.forwardedBy} bakery, and a forwarded request is never forwarded again (check that bakery's --peer ${region}=URL)`;
  if (executor.peerRegions?.includes(region)) return null;
  return `${base}, and it has no --peer for ${region}${
    executor.peerRegions?.length ? ` (peers: ${executor.peerRegions.join(', ')})` : ''
  }`;
}

/** The peer that bakes this request, or null when this bakery bakes it itself. */
export function peerFor(
  peers: ReadonlyMap<string, Peer>,
  ownRegion: string | null,
  request: Pick<ExecutorRequest, 'region' | 'forwardedBy'>,
): Peer | null {
  if (!request.region || request.region === ownRegion || request.forwardedBy) return null;
  return peers.get(request.region) ?? null;
}

/**
 * A forwarded bake's key here: the request's identity (region, base, packages, package digests,
 * script, strategy), marked as a peer's. The peer computes the real bake key (its base images are
 * its region's); identical forwarded requests still join one relay here.
 */
function relayKey(request: ExecutorRequest): string {
  const digests = request.packageFiles.map((path) => basename(path).replace(/\..*$/, ''));
  const identity = JSON.stringify([
    request.region,
    request.baseImage,
    request.packages,
    digests,
    request.provisionScript ?? null,
    request.strategy,
  ]);
  return `peer-${request.region}-${createHash('sha256').update(identity).digest('hex')}`;
}

/** Bakes the request in the peer's bakery and mirrors its progress into `ctx`. */
async function relay(
  peer: Peer,
  client: BakeryClient,
  request: ExecutorRequest,
  ownRegion: string | null,
  ctx: RunContext,
): Promise<ExecutorOutcome> {
  ctx.progress({ label: `Forwarding to the ${peer.region} bakery`, fraction: 0 });
  const files: string[] = [];
  for (const path of request.packageFiles) {
    const { sha256, uploaded } = await client.ensureFile(path, ctx.signal);
    if (uploaded) ctx.log.info(`uploaded ${sha256.slice(0, 12)} to the ${peer.region} bakery`);
    files.push(sha256);
  }
  const { bake: asked, created } = await client.requestBake(
    {
      baseImage: request.baseImage,
      packages: request.packages,
      files,
      ...(request.provisionScript !== undefined ? { provisionScript: request.provisionScript } : {}),
      strategy: request.strategy,
      region: peer.region,
      forwardedBy: ownRegion ?? 'unnamed',
    },
    ctx.signal,
  );
  ctx.log.info(
    `forwarded to the ${peer.region} bakery ${peer.url}: bake ${asked.id} ${created ? 'queued' : `joined (${asked.state})`}`,
  );
  let bake: RemoteBake = asked;
  if (asked.state === 'queued' || asked.state === 'running') {
    try {
      bake = await client.follow(
        asked.id,
        (event) => {
          const { data } = event;
          if ((event.type === 'progress' || event.type === 'step') && typeof data.step === 'string')
            ctx.progress({ label: data.step, fraction: Number(data.progress) || 0 });
          else if (event.type === 'log' && typeof data.message === 'string')
            (data.level === 'warn' ? ctx.log.warn : ctx.log.info)(`${peer.region}: ${data.message}`);
          else if (event.type === 'state' && typeof data.state === 'string')
            ctx.log.info(`${peer.region}: bake ${asked.id} ${data.state}`);
        },
        ctx.signal,
      );
    } catch (error) {
      if (!ctx.signal.aborted) throw error;
      // Cancelled here (DELETE, or the grace period of a stop ran out): cancel the peer's bake too.
      await client.cancelBake(asked.id).then(
        (cancelled) =>
          ctx.log.info(`cancelled bake ${asked.id} at the ${peer.region} bakery (${cancelled.state})`),
        (cancelError: unknown) =>
          ctx.log.warn(
            `could not cancel bake ${asked.id} at the ${peer.region} bakery: ${errorMessage(cancelError)}`,
          ),
      );
      throw error;
    }
  }
  if (bake.state !== 'succeeded' || !bake.image)
    throw new PipelineError(
      'bake',
      `the ${peer.region} bakery ${peer.url}: bake ${bake.id} ${bake.state}${bake.error ? `: ${bake.error.message}` : ''}`,
    );
  return {
    image: { ...bake.image, peer: { region: peer.region, url: peer.url, bake: bake.id } },
    bakeKey: bake.bakeKey,
    cacheHit: bake.cacheHit || (!created && asked.state === 'succeeded'),
    durationsMs: bake.durationsMs,
  };
}

/**
 * This bakery's executor with its peers: requests for a peer's region are relayed there, everything
 * else goes to `local`.
 */
export function withPeers(local: BakeExecutor, peers: readonly Peer[]): BakeExecutor {
  if (peers.length === 0) return local;
  const byRegion = new Map(peers.map((peer) => [peer.region, peer]));
  const clients = new Map(
    peers.map((peer) => [
      peer.region,
      new BakeryClient({
        url: peer.url,
        token: peer.token,
        credentialHint: `the token of --peer-token-file for ${peer.region} is not accepted there; create one on that bakery with \`ovenproof bakery token create\``,
      }),
    ]),
  );
  return {
    ...local,
    peerRegions: peers.map((peer) => peer.region),
    async bakeKeyOf(request) {
      return peerFor(byRegion, local.region, request) ? relayKey(request) : local.bakeKeyOf(request);
    },
    async bake(request, ctx) {
      const peer = peerFor(byRegion, local.region, request);
      if (!peer) return local.bake(request, ctx);
      return relay(peer, clients.get(peer.region)!, request, local.region, ctx);
    },
    // A relayed bake's image lives in the peer's region: the peer (its home bakery) promotes and copies it.
    async promote(bake, wanted, ctx) {
      const peer = peerFor(byRegion, local.region, bake.request);
      if (!peer) return local.promote(bake, wanted, ctx);
      const peerBake = bake.image.peer?.bake;
      if (!peerBake)
        throw new PipelineError(
          'bake',
          `image ${bake.image.id} does not name its bake at the ${peer.region} bakery`,
        );
      const { copies } = await clients.get(peer.region)!.promoteBake(peerBake, wanted, ctx.signal);
      ctx.log.info(`image ${bake.image.id} promoted by the ${peer.region} bakery (bake ${peerBake})`);
      return { copies };
    },
  };
}
