/**
 * A throw-away instance booted from an image (a failure image, usually) with a brand-new identity, for
 * `ovenproof reproduce`: launched and journaled like a run's test instance, so that it is terminated when
 * the work is done, when the process is interrupted, by `sweep --ledger` after a crash, and at worst by its
 * own TTL. `keep` leaves it up (bounded by the TTL) with the files needed to reach it again.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PipelineError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { DebugSsh } from '../common/run-result.js';
import type { InstanceInfo, Provider, RunContext } from '../providers/provider.js';
import { generateEd25519KeyPair, waitForSsh, type SshTarget } from '../ssh/index.js';
import type { SshSession } from '../ssh/session.js';
import { cleanupLedger } from './cleanup.js';
import { Ledger } from './ledger.js';

export interface ReproduceOptions {
  provider: Provider;
  /** Serialisable provider settings for the ledger (`sweep --ledger` rebuilds the provider from them). */
  providerSettings: Record<string, unknown>;
  imageId: string;
  sshUser: string;
  ttlMs: number;
  /** Leave the instance running (until its TTL) instead of terminating it at the end. */
  keep: boolean;
  log: Logger;
  signal: AbortSignal;
  /** Parent of the work directory (ledger, and the key files of a kept instance). */
  tempRoot?: string;
  /** Readiness deadline for SSH. */
  sshTimeoutMs?: number;
}

export interface Reproduction {
  instance: InstanceInfo;
  session: SshSession;
  runId: string;
}

export interface ReproduceOutcome<T> {
  value: T;
  instanceId: string;
  /** Set when the instance was kept: how to reach it and how to remove it early. */
  kept: null | { debugSsh: DebugSsh; ledgerPath: string };
}

const EXPIRY_MARGIN_MS = 15 * 60_000;

export async function withReproduction<T>(
  options: ReproduceOptions,
  use: (reproduction: Reproduction) => Promise<T>,
): Promise<ReproduceOutcome<T>> {
  const { provider, log } = options;
  const image = await provider.describeImage(options.imageId);
  if (!image)
    throw new PipelineError('launch', `image ${options.imageId} does not exist on ${provider.name}`);
  const runId = `op-repro-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const workDir = await mkdtemp(join(options.tempRoot ?? tmpdir(), 'ovenproof-reproduce-'));
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const ledgerPath = join(workDir, 'ledger.json');
  const ledger = await Ledger.create(ledgerPath, runId, options.providerSettings);
  const ctx: RunContext = {
    runId,
    expiresAt: new Date(Date.now() + options.ttlMs + EXPIRY_MARGIN_MS),
    journal: ledger,
    signal: options.signal,
    log,
    progress: ({ label }) => log.debug(label),
    tags: { 'ovenproof:reproduces': options.imageId },
  };
  const clientKey = generateEd25519KeyPair(`ovenproof-${runId}`);
  const hostKey = generateEd25519KeyPair(`ovenproof-host-${runId}`);
  log.mask(clientKey.privateKey);
  log.mask(hostKey.privateKey);

  let instance: InstanceInfo | null = null;
  let kept: ReproduceOutcome<T>['kept'] = null;
  try {
    log.info(`launching an instance of ${image.id} (${image.name}) with a new identity`);
    instance = await provider.launch(ctx, {
      imageId: image.id,
      purpose: 'test',
      identity: {
        hostname: `ovenproof-${runId}`.slice(0, 63),
        authorizedKey: clientKey.publicKey,
        hostKeyPrivate: hostKey.privateKey,
        hostKeyPublic: hostKey.publicKey,
      },
      ttlMs: options.ttlMs,
      sshUser: options.sshUser,
    });
    const target: SshTarget = {
      host: instance.host,
      port: instance.port,
      user: instance.user,
      privateKey: clientKey.privateKey,
      hostKeyPublic: instance.hostKeyPublic,
      ...(instance.networkProbe ? { networkProbe: instance.networkProbe } : {}),
    };
    log.info(`instance ${instance.id} is booting; waiting for SSH on ${instance.host}:${instance.port}`);
    const session = await waitForSsh(target, {
      timeoutMs: options.sshTimeoutMs ?? 10 * 60_000,
      signal: options.signal,
      log,
      stage: 'launch',
    });
    let value: T;
    try {
      value = await use({ instance, session, runId });
    } finally {
      await session.close().catch(() => undefined);
    }
    if (options.keep) {
      const debugSsh = await writeDebugSsh(workDir, instance, clientKey.privateKey);
      await provider.keepInstance?.(instance.id);
      for (const entry of ledger.live()) await ledger.kept(entry.key);
      kept = { debugSsh, ledgerPath };
    }
    return { value, instanceId: instance.id, kept };
  } finally {
    if (!kept) {
      if (instance) {
        // Teardown runs to completion even when the work was interrupted.
        const teardown: RunContext = { ...ctx, signal: new AbortController().signal };
        await provider.terminate(teardown, instance.id).then(
          () => log.info(`terminated instance ${instance!.id}`),
          (error: unknown) => log.warn(`terminating ${instance!.id}: ${errorMessage(error)}`),
        );
      }
      // Whatever the launch left (a half-started instance, a security group) goes too.
      const report = await cleanupLedger(ledger, async () => provider, log);
      for (const { entry, message } of report.failed)
        log.warn(
          `could not delete ${entry.kind} ${entry.id ?? entry.key}: ${message} (ledger ${ledgerPath})`,
        );
      if (report.failed.length === 0) await rm(workDir, { recursive: true, force: true });
    }
  }
}

/** Key and known_hosts files for reaching a kept instance again (`ovenproof ssh`, plain OpenSSH). */
export async function writeDebugSsh(
  dir: string,
  instance: InstanceInfo,
  privateKey: string,
): Promise<DebugSsh> {
  const sshDir = join(dir, 'debug-ssh');
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  const privateKeyFile = join(sshDir, 'id_ed25519');
  const knownHostsFile = join(sshDir, 'known_hosts');
  await writeFile(privateKeyFile, privateKey, { mode: 0o600 });
  const hostPattern = instance.port === 22 ? instance.host : `[${instance.host}]:${instance.port}`;
  await writeFile(knownHostsFile, `${hostPattern} ${instance.hostKeyPublic.trim()}\n`, { mode: 0o600 });
  return { user: instance.user, host: instance.host, port: instance.port, privateKeyFile, knownHostsFile };
}

/** The OpenSSH command line that reaches a kept instance with its pinned host key. */
export function opensshCommand(debugSsh: DebugSsh): string {
  return (
    `ssh -i ${debugSsh.privateKeyFile} -o UserKnownHostsFile=${debugSsh.knownHostsFile} ` +
    `-o StrictHostKeyChecking=yes -p ${debugSsh.port} ${debugSsh.user}@${debugSsh.host}`
  );
}
