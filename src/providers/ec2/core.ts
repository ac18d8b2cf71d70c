/**
 * What every EC2 resource module shares: the validated settings, one SDK client per region, the
 * permission probes already made, the provider's own logger, and the bookkeeping between provider ids
 * and ledger keys (so that deleting a resource closes the ledger entry that created it).
 */
import { errorMessage } from '../../common/errors.js';
import { createHash } from 'node:crypto';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { silentLogger, type Logger } from '../../common/log.js';
import type { RunContext } from '../provider.js';
import { createClient, type RetryOptions } from './aws.js';
import { Imds, type HostIdentity } from './imds.js';
import { detectPublicAddress } from './public-address.js';
import { parseEc2Settings, type Ec2ProviderOptions, type Ec2Settings } from './settings.js';

export class Ec2Core {
  readonly settings: Ec2Settings;
  /** The logger the provider was created with: used where no run context is at hand. */
  readonly log: Logger;
  readonly resolvePublicAddress: () => Promise<string>;
  /** `region:action` pairs whose DryRun probe succeeded. */
  readonly probed = new Set<string>();
  /** Ledger key of every resource this process created, by provider id. */
  readonly keys = new Map<string, string>();
  /** Temporary security group created for an instance, deleted after the instance terminates. */
  readonly instanceGroups = new Map<string, { key: string; groupId: string }>();
  private readonly credentials: Ec2ProviderOptions['credentials'];
  private readonly clients = new Map<string, EC2Client>();
  private readonly imds: Imds;
  private hostPromise: Promise<HostIdentity | null> | null = null;
  private sequence = 0;

  constructor(options: Ec2ProviderOptions) {
    const { credentials, resolvePublicAddress, log, ...settings } = options;
    this.settings = parseEc2Settings(settings);
    this.credentials = credentials;
    this.log = log ?? silentLogger;
    this.resolvePublicAddress = resolvePublicAddress ?? (() => detectPublicAddress());
    this.imds = new Imds(this.settings.imdsEndpoint, this.settings.imdsTimeoutMs);
  }

  client(region: string = this.settings.region): EC2Client {
    let client = this.clients.get(region);
    if (!client) {
      client = createClient(this.settings, region, this.credentials);
      this.clients.set(region, client);
    }
    return client;
  }

  /** Backoff for NotFound right after a create (eventual consistency). */
  consistency(signal?: AbortSignal, resource?: string): RetryOptions {
    return {
      timeoutMs: this.settings.consistencyTimeoutMs,
      baseMs: Math.max(10, Math.round(this.settings.pollIntervalMs / 5)),
      ...(signal ? { signal } : {}),
      ...(resource ? { resource } : {}),
    };
  }

  /** A ClientToken (≤ 64 ASCII) unique per run, purpose and attempt, stable across SDK retries. */
  token(ctx: RunContext, what: string): string {
    this.sequence += 1;
    const readable = `${ctx.runId}-${what}-${this.sequence}`.replace(/[^A-Za-z0-9_.-]/g, '_');
    if (readable.length <= 64) return readable;
    const hash = createHash('sha256').update(readable).digest('hex').slice(0, 24);
    return `${readable.slice(0, 39)}-${hash}`;
  }

  async remember(ctx: RunContext, key: string, id: string, data?: Record<string, string>): Promise<void> {
    this.keys.set(id, key);
    await ctx.journal.created(key, id, data);
  }

  async forget(ctx: RunContext | null, id: string): Promise<void> {
    const key = this.keys.get(id);
    if (key && ctx) await ctx.journal.deleted(key);
    this.keys.delete(id);
  }

  /** The EC2 instance this process runs on (IMDSv2), or null off EC2. Asked once. */
  host(): Promise<HostIdentity | null> {
    this.hostPromise ??= this.imds.host().catch((error: unknown) => {
      this.log.debug(`no IMDSv2 answer at ${this.settings.imdsEndpoint}: ${errorMessage(error)}`);
      return null;
    });
    return this.hostPromise;
  }
}
