/**
 * What the bakery needs from a baker: the bake key of a request, whether a baked image is still there,
 * the bake itself, and the deletion of a resource left in a job's ledger. The bakery's jobs know the
 * baker only through this interface; one small adapter (baker-adapter.ts) implements it with
 * the in-process baker and a provider.
 */
import type { Logger } from '../common/log.js';
import type { LedgerEntry, ProviderName, RunContext } from '../providers/provider.js';
import type { BakedImage } from './model.js';

export interface ExecutorRequest {
  baseImage: string;
  /** Local paths of the uploaded package files (named with their package extension). */
  packageFiles: string[];
  packages: string[];
  provisionScript?: string;
  strategy: 'auto' | 'volume' | 'instance';
  /** The region asked for; a bakery with a peer for it relays the bake there. */
  region?: string;
  /** Set when another bakery forwarded the request: it is never forwarded again. */
  forwardedBy?: string;
}

export interface ExecutorOutcome {
  image: BakedImage;
  bakeKey: string;
  cacheHit: boolean;
  durationsMs: Record<string, number>;
}

/** What `POST /v1/bakes/:id/promote` asks for. */
export interface PromoteOptions {
  /** The value of `ovenproof:tested` (the run's verdict), if any. */
  tested: 'passed' | 'failed' | null;
  /** Regions to copy the promoted image to (its own region is skipped). */
  regions: string[];
}

export interface BakeExecutor {
  readonly provider: ProviderName;
  /** The region this bakery bakes in (null for the local provider). */
  readonly region: string | null;
  /** Regions this bakery forwards to a peer bakery (`--peer`). */
  readonly peerRegions?: readonly string[];
  /** The baker's bake key for the request; a bad request throws a ConfigError naming what is wrong. */
  bakeKeyOf(request: ExecutorRequest): Promise<string>;
  /** True while the image exists and has not passed its expiry. */
  imageAlive(imageId: string): Promise<boolean>;
  /** Bakes (or reuses a cached bake); every resource goes through `ctx.journal` before it exists. */
  bake(request: ExecutorRequest, ctx: RunContext): Promise<ExecutorOutcome>;
  /** The images this bakery's bakes produced that are still alive (bake cache and promoted images). */
  listImages(): Promise<Array<BakedImage & { bakeKey: string | null; expiresAt: string | null }>>;
  /**
   * Promotes a succeeded bake's image (tagged kept: never pruned or swept) and copies it to
   * `options.regions`; every copy goes through `ctx.journal` before it exists.
   */
  promote(
    bake: { image: BakedImage; request: Pick<ExecutorRequest, 'region' | 'forwardedBy'> },
    options: PromoteOptions,
    ctx: RunContext,
  ): Promise<{ copies: Array<{ region: string; id: string }> }>;
  /** Deletes what a ledger entry describes; "already gone" is success. */
  deleteResource(entry: LedgerEntry, log: Logger): Promise<void>;
}
