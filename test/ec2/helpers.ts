/** Shared set-up of the EC2 tests: the fake endpoint, a provider pointed at it, a run context. */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger } from '../../src/pipeline/ledger.js';
import type { Logger } from '../../src/common/log.js';
import type { InstanceIdentity, LaunchSpec, RunContext } from '../../src/providers/provider.js';
import {
  createEc2Provider,
  type Ec2Provider,
  type Ec2ProviderOptions,
} from '../../src/providers/ec2/index.js';
import { generateEd25519KeyPair } from '../../src/ssh/index.js';
import {
  startEc2Endpoint,
  type Ec2Endpoint,
  type Ec2EndpointOptions,
} from '../support/ec2-endpoint/index.js';

export const REGION = 'eu-west-1';

/** A logger that keeps every line, so tests can assert that secrets never reach it. */
export function memoryLogger(): Logger & { lines: string[]; secrets: string[] } {
  const lines: string[] = [];
  const secrets: string[] = [];
  const add = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  return {
    lines,
    secrets,
    info: add('info'),
    warn: add('warn'),
    debug: add('debug'),
    mask: (s) => void secrets.push(s),
  };
}

/** Fast timings so that waiters and consistency retries take milliseconds against the fake. */
export const FAST = {
  pollIntervalMs: 20,
  consistencyTimeoutMs: 5_000,
  waitTimeoutsMs: {
    instanceRunning: 5_000,
    instanceStopped: 5_000,
    instanceTerminated: 5_000,
    imageAvailable: 5_000,
    snapshotCompleted: 5_000,
    volume: 5_000,
    securityGroupDelete: 5_000,
    deviceAppears: 2_000,
  },
} as const;

export interface Harness {
  ec2: Ec2Endpoint;
  provider: Ec2Provider;
  ledger: Ledger;
  ctx: RunContext;
  log: ReturnType<typeof memoryLogger>;
  dir: string;
  close(): Promise<void>;
}

export async function harness(
  opts: {
    endpoint?: Ec2EndpointOptions;
    provider?: Partial<Ec2ProviderOptions>;
    runId?: string;
    expiresAt?: Date;
  } = {},
): Promise<Harness> {
  const ec2 = await startEc2Endpoint({ transitionMs: 10, ...opts.endpoint });
  const dir = await mkdtemp(join(tmpdir(), 'ovenproof-ec2-'));
  const runId = opts.runId ?? `run-${Date.now()}`;
  const settings = {
    region: REGION,
    endpoint: ec2.url,
    ...FAST,
    // Nothing may leave 127.0.0.0/8: no IMDS at 169.254.169.254 and no public-address service.
    imdsEndpoint: 'http://127.0.0.1:9',
    imdsTimeoutMs: 200,
    lockDir: join(dir, 'lock'),
    ...opts.provider,
  };
  const provider = createEc2Provider({
    ...settings,
    credentials: ec2.credentials,
    resolvePublicAddress: async () => '127.0.0.1',
  });
  const ledger = await Ledger.create(join(dir, 'ledger.json'), runId, { ec2: provider.toJSON() });
  const log = memoryLogger();
  const ctx: RunContext = {
    runId,
    expiresAt: opts.expiresAt ?? new Date(Date.now() + 3600_000),
    journal: ledger,
    signal: new AbortController().signal,
    log,
    progress: () => undefined,
    tags: { 'ovenproof:repository': 'octo/widget', 'ovenproof:commit': 'a'.repeat(40) },
  };
  return { ec2, provider, ledger, ctx, log, dir, close: () => ec2.close() };
}

export function identity(): InstanceIdentity {
  const client = generateEd25519KeyPair('ovenproof-client');
  const host = generateEd25519KeyPair('ovenproof-host');
  return {
    hostname: 'ovenproof-test',
    authorizedKey: client.publicKey,
    hostKeyPrivate: host.privateKey,
    hostKeyPublic: host.publicKey,
  };
}

export function launchSpec(imageId: string, extra: Partial<LaunchSpec> = {}): LaunchSpec {
  return { imageId, purpose: 'test', identity: identity(), ttlMs: 30 * 60_000, sshUser: 'admin', ...extra };
}
