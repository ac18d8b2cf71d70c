import { connect as tcpConnect } from 'node:net';
import ssh2 from 'ssh2';
import type { Client as ClientType, ConnectConfig } from 'ssh2';
import {
  CancelledError,
  ConfigError,
  HostKeyMismatchError,
  PipelineError,
  errorMessage,
} from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { checkPrivateKey, fingerprint, publicKeyBlob } from './keys.js';
import { OpenSshSession, type SshSession } from './session.js';

const { Client } = ssh2;

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** Client key (OpenSSH format). Never logged, never part of an error message. */
  privateKey: string;
  /** The ONLY host key accepted ("ssh-ed25519 AAAA…"); any other key → HostKeyMismatchError, never retried. */
  hostKeyPublic: string;
  /**
   * A forwarded port to a CLOSED guest port. Under QEMU user-mode networking a TCP connect is accepted
   * by QEMU at once and then closed/reset as soon as the guest's network answers; polling it first
   * avoids SSH attempts stuck in QEMU's SYN retry backoff.
   */
  networkProbe?: { host: string; port: number };
}

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  log?: Logger;
  /** Stage named in the timeout error (the result file's `error.stage`); default `test`. */
  stage?: string;
  /**
   * Called once when the instance first answers on the network: the network probe's reset, or without
   * a probe the SSH server's first answer. It splits a launch's wait into "boot" and "ssh".
   */
  onNetworkUp?: () => void;
  /**
   * Why the machine behind the target can no longer answer (it stopped or terminated), or null while
   * it may still: asked between attempts, at most every `endedCheckMs`, so that the wait ends at once.
   */
  whyEnded?: () => Promise<string | null>;
  /** Default 10 s. */
  endedCheckMs?: number;
  /** Called between attempts with the time waited and left (for a progress line). */
  onProgress?: (elapsedMs: number, remainingMs: number) => void;
}

/** Keepalives detect a dead peer (instance gone, NAT dropped) within about a minute instead of hanging. */
const KEEPALIVE_INTERVAL_MS = 15_000;
const KEEPALIVE_COUNT_MAX = 4;
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 3_000;
const ATTEMPT_TIMEOUT_MS = 20_000;

/**
 * One SSH connection attempt with the pinned host key. Rejects with HostKeyMismatchError when the server
 * offers any other key, otherwise with an Error describing why the attempt failed.
 */
export function connectOnce(
  target: SshTarget,
  readyTimeoutMs: number,
  log: Logger = silentLogger,
  onServerAnswer?: () => void,
): Promise<SshSession> {
  const expected = publicKeyBlob(target.hostKeyPublic);
  const keyType = target.hostKeyPublic.trim().split(/\s+/)[0]!;
  checkPrivateKey(target.privateKey);
  return new Promise((resolve, reject) => {
    const client: ClientType = new Client();
    let offered: Buffer | null = null;
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      client.removeAllListeners('ready');
      client.on('error', () => undefined);
      client.destroy();
      reject(error);
    };
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      resolve(new OpenSshSession(client, target, log));
    });
    client.on('error', (error: Error & { level?: string }) => {
      if (offered && !offered.equals(expected)) {
        fail(
          new HostKeyMismatchError(
            `${target.host}:${target.port} offered host key ${fingerprint(offered)} but only ${fingerprint(expected)} ` +
              'is trusted: refusing to connect (possible man-in-the-middle or wrong instance)',
          ),
        );
        return;
      }
      fail(new Error(describeSshError(error)));
    });
    client.on('close', () => fail(new Error('connection closed before the SSH handshake completed')));
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: target.privateKey,
      readyTimeout: Math.max(1, Math.round(readyTimeoutMs)),
      keepaliveInterval: KEEPALIVE_INTERVAL_MS,
      keepaliveCountMax: KEEPALIVE_COUNT_MAX,
      // Ask only for the pinned key's algorithm so that a server holding several host keys presents it.
      algorithms: { serverHostKey: [keyType as never] },
      hostVerifier: (key: Buffer): boolean => {
        onServerAnswer?.();
        offered = Buffer.from(key);
        return key.equals(expected);
      },
    };
    try {
      client.connect(config);
    } catch (error) {
      fail(new Error(describeSshError(error as Error)));
    }
  });
}

function describeSshError(error: Error & { level?: string; code?: string }): string {
  if (error.level === 'client-authentication')
    return 'authentication failed (the client key was not accepted)';
  if (error.level === 'client-timeout') return 'timed out waiting for the SSH handshake';
  if (error.code) return `${error.code} (${error.message})`;
  return error.message;
}

/**
 * Waits until the instance accepts SSH with the pinned host key: optional network probe, then TCP +
 * handshake attempts with exponential backoff under one overall deadline. "Not up yet" failures are
 * retried; a host-key mismatch aborts at once.
 */
export async function waitForSsh(target: SshTarget, options: WaitOptions): Promise<SshSession> {
  const log = options.log ?? silentLogger;
  log.mask(target.privateKey);
  const where = `${target.host}:${target.port}`;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const ended = endedCheck(options);
  let delay = FIRST_DELAY_MS;
  let lastFailure = 'no attempt finished';
  let attempts = 0;
  let networkUp = !target.networkProbe;
  let announced = false;
  const announce = () => {
    if (announced) return;
    announced = true;
    options.onNetworkUp?.();
  };

  while (true) {
    throwIfAborted(options.signal, where);
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    options.onProgress?.(Date.now() - started, remaining);
    const gone = await ended();
    if (gone) {
      throw new PipelineError(
        options.stage ?? 'test',
        `SSH to ${target.user}@${where} cannot succeed: ${gone} (after ${Math.round((Date.now() - started) / 1000)}s, ${attempts} attempts; last failure: ${lastFailure})`,
      );
    }
    attempts += 1;
    try {
      if (!networkUp && target.networkProbe) {
        networkUp = await waitForNetwork(target.networkProbe, deadline, options.signal);
        if (networkUp) {
          announce();
          log.debug(`guest network up (probe ${target.networkProbe.host}:${target.networkProbe.port})`);
          delay = FIRST_DELAY_MS;
          continue;
        }
        lastFailure = `guest network not up yet (probe port ${target.networkProbe.port} did not answer)`;
      } else {
        const session = await connectOnce(target, Math.min(remaining, ATTEMPT_TIMEOUT_MS), log, announce);
        announce();
        log.debug(`SSH ready at ${where} after ${attempts} attempt(s)`);
        return session;
      }
    } catch (error) {
      // Not "not up yet": retrying cannot help and, for a host key, must not happen.
      if (
        error instanceof HostKeyMismatchError ||
        error instanceof CancelledError ||
        error instanceof ConfigError
      ) {
        throw error;
      }
      lastFailure = errorMessage(error);
      log.debug(`SSH not ready at ${where}: ${lastFailure}`);
    }
    const wait = Math.min(delay, deadline - Date.now());
    if (wait > 0) await sleep(wait, options.signal, where);
    delay = Math.min(MAX_DELAY_MS, Math.round(delay * 1.6));
  }
  throw new PipelineError(
    options.stage ?? 'test',
    `SSH to ${target.user}@${where} not ready after ${Math.round(options.timeoutMs / 1000)}s ` +
      `(${attempts} attempts); last failure: ${lastFailure}`,
  );
}

/**
 * Asks `options.whyEnded` at most every `endedCheckMs`; a failing check is not a verdict (the wait
 * goes on and its own deadline still holds).
 */
function endedCheck(options: WaitOptions): () => Promise<string | null> {
  const every = options.endedCheckMs ?? 10_000;
  let last = 0;
  return async () => {
    if (!options.whyEnded || Date.now() - last < every) return null;
    last = Date.now();
    try {
      return await options.whyEnded();
    } catch (error) {
      options.log?.debug(`could not check whether the instance still runs: ${errorMessage(error)}`);
      return null;
    }
  };
}

const PROBE_INTERVAL_MS = 200;
const PROBE_TIMEOUT_MS = 1_500;
const PROBES_IN_FLIGHT = 8;

/**
 * Polls the network probe until the guest answers or the deadline passes. A probe opened before the
 * guest network is up sits in QEMU's SYN retry backoff (1 s, 2 s, …), so instead of waiting for each
 * one a new probe starts every 200 ms while earlier ones are still pending: whichever sees the reset
 * first ends the wait, within about 200 ms of the network coming up. Probes to a closed port are cheap
 * for the guest, unlike SSH attempts, which make sshd drop connections when they pile up.
 */
function waitForNetwork(
  probe: { host: string; port: number },
  deadline: number,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  return new Promise((resolve) => {
    let inFlight = 0;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (up: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(up);
    };
    const onAbort = (): void => finish(false);
    const launch = (): void => {
      if (done) return;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        if (inFlight === 0) finish(false);
        return;
      }
      if (inFlight < PROBES_IN_FLIGHT) {
        inFlight += 1;
        void probeNetwork(probe, Math.min(remaining, PROBE_TIMEOUT_MS), signal).then((up) => {
          inFlight -= 1;
          if (up) finish(true);
          else if (deadline - Date.now() <= 0 && inFlight === 0) finish(false);
        });
      }
      timer = setTimeout(launch, PROBE_INTERVAL_MS);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    launch();
  });
}

/**
 * True when the probe port answers with a close or reset (guest network up), false while the connection
 * is refused or sits unanswered.
 */
export function probeNetwork(
  probe: { host: string; port: number },
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: probe.host, port: probe.port });
    let connected = false;
    const finish = (up: boolean): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(up);
    };
    const onAbort = (): void => finish(false);
    const timer = setTimeout(() => finish(false), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => {
      connected = true;
    });
    socket.on('data', () => finish(true));
    socket.on('error', (error: NodeJS.ErrnoException) => finish(connected || error.code === 'ECONNRESET'));
    socket.on('close', () => finish(connected));
  });
}

function throwIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) throw new CancelledError(`cancelled while waiting for SSH at ${where}`);
}

function sleep(ms: number, signal: AbortSignal | undefined, where: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new CancelledError(`cancelled while waiting for SSH at ${where}`));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
