/**
 * The EC2 client and the guards every call goes through: action-named errors, DryRun permission
 * probes in front of waiters (an SDK waiter retries AccessDenied until it times out), bounded retries
 * of NotFound right after a create (eventual consistency), and waiters with explicit limits.
 */
import { EC2Client, type EC2ClientConfig } from '@aws-sdk/client-ec2';
import { formatDuration } from '../../common/duration.js';
import type { Ec2Settings } from './settings.js';

/**
 * Error codes after which RunInstances moves on to the next instance type. EC2 sends them as HTTP 500,
 * which the SDK would retry as transient up to maxAttempts although capacity rarely returns that fast.
 */
export const CAPACITY_CODES = new Set([
  'InsufficientInstanceCapacity',
  'Unsupported',
  'InsufficientCapacity',
]);

export function createClient(
  settings: Ec2Settings,
  region: string,
  credentials: EC2ClientConfig['credentials'],
): EC2Client {
  const client = new EC2Client({
    region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    // Standard mode classifies RequestLimitExceeded as throttling (longer, jittered backoff); the SDK's
    // default of 3 attempts is too few for the bursts EC2 answers busy accounts with.
    retryMode: 'standard',
    maxAttempts: settings.maxAttempts,
  });
  // Runs inside the retry middleware: a capacity error gets a 4xx status so the retry strategy hands it
  // straight back and the provider can fall back to the next instance type.
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const e = error as { $metadata?: { httpStatusCode?: number } };
        if (CAPACITY_CODES.has(errorCode(error)) && e.$metadata) e.$metadata.httpStatusCode = 400;
        throw error;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'ovenproofCapacityIsFinal' },
  );
  return client;
}

/** The error code EC2 returned (`InvalidInstanceID.NotFound`, `UnauthorizedOperation`…), or ''. */
export function errorCode(error: unknown): string {
  if (!error || typeof error !== 'object') return '';
  const e = error as { Code?: unknown; name?: unknown };
  if (typeof e.Code === 'string') return e.Code;
  return typeof e.name === 'string' ? e.name : '';
}

export function isNotFound(error: unknown): boolean {
  const code = errorCode(error);
  return code.endsWith('.NotFound') || code.endsWith('NotFound') || code === 'InvalidAMIID.Unavailable';
}

/** A request EC2 rejected (4xx): nothing was created. Server errors and lost answers are not. */
export function isClientError(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  return status !== undefined && status >= 400 && status < 500;
}

export function isPermissionError(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'UnauthorizedOperation' || code === 'AccessDenied' || code === 'AccessDeniedException';
}

/** An EC2 call failed; `action` is the IAM action name (ec2:RunInstances). */
export class Ec2Error extends Error {
  readonly exitCode = 2;
  constructor(
    readonly action: string,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'Ec2Error';
  }
}

export function describeFailure(action: string, error: unknown): Ec2Error {
  if (error instanceof Ec2Error) return error;
  const code = errorCode(error);
  const raw = error instanceof Error ? error.message : String(error);
  // The message of UnauthorizedOperation carries an opaque "Encoded authorization failure message"
  // blob; the actionable part is which permission is missing.
  const message = isPermissionError(error)
    ? `ec2:${action} is not allowed for these credentials (${code}): add "ec2:${action}" to the IAM policy (docs/aws.md)`
    : `ec2:${action} failed: ${code ? code + ': ' : ''}${raw.split('\n')[0]}`;
  return new Ec2Error(action, code, message, { cause: error });
}

/** Runs one EC2 call and turns its failure into an error naming the action. */
export async function call<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw describeFailure(action, error);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Retries `fn` while EC2 answers NotFound, with exponential backoff up to `timeoutMs`: right after a
 * create, NotFound means "not visible yet", not "does not exist".
 */
export async function retryNotFound<T>(
  action: string,
  fn: () => Promise<T>,
  opts: { timeoutMs: number; baseMs: number; signal?: AbortSignal },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let delay = opts.baseMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (!isNotFound(error) || Date.now() + delay > deadline) throw describeFailure(action, error);
      await sleep(delay, opts.signal);
      delay = Math.min(delay * 2, Math.max(opts.baseMs, 10_000));
    }
  }
}

/**
 * Sends `command` with DryRun=true: EC2 answers DryRunOperation when the call would be allowed and
 * UnauthorizedOperation when it would not. Probed once per action and client.
 */
export async function probePermission(
  region: string,
  action: string,
  sendDryRun: () => Promise<unknown>,
  probed: Set<string>,
): Promise<void> {
  const cacheKey = `${region}:${action}`;
  if (probed.has(cacheKey)) return;
  try {
    await sendDryRun();
  } catch (error) {
    const code = errorCode(error);
    if (code === 'DryRunOperation') {
      probed.add(cacheKey);
      return;
    }
    // NotFound for the probed ids is fine here: the waiter that follows treats it as "retry".
    if (isNotFound(error)) return;
    throw describeFailure(action, error);
  }
  probed.add(cacheKey);
}

/** Waiter timing: explicit limit, delays scaled from the configured poll interval. */
export function waiterConfig(
  client: EC2Client,
  settings: Ec2Settings,
  maxWaitMs: number,
  signal?: AbortSignal,
): { client: EC2Client; maxWaitTime: number; minDelay: number; maxDelay: number; abortSignal?: AbortSignal } {
  const minDelay = settings.pollIntervalMs / 1000;
  const maxWaitTime = Math.max(maxWaitMs / 1000, minDelay * 2);
  return {
    client,
    maxWaitTime,
    minDelay,
    maxDelay: Math.max(minDelay, Math.min(minDelay * 6, 60)),
    ...(signal ? { abortSignal: signal } : {}),
  };
}

/**
 * Runs an SDK waiter and, when it fails, names what was awaited, the action polled and why it stopped
 * (`explain` adds the resource's own reason, e.g. an image's StateReason).
 */
export async function waitFor(
  what: string,
  action: string,
  maxWaitMs: number,
  run: () => Promise<unknown>,
  explain?: () => Promise<string>,
): Promise<void> {
  try {
    await run();
  } catch (error) {
    const raw = error instanceof Error ? error.message : String(error);
    let detail = raw.split('\n')[0] ?? raw;
    let state = '';
    try {
      state = String((JSON.parse(raw) as { state?: unknown }).state ?? '');
    } catch {
      // not the SDK's JSON waiter message: keep its first line
    }
    if (state === 'TIMEOUT') detail = `still not there after ${formatDuration(maxWaitMs)}`;
    else if (state === 'FAILURE') detail = 'it reached a state it cannot leave';
    else if (state === 'ABORTED') detail = 'cancelled';
    const extra = explain ? await explain().catch(() => '') : '';
    throw new Ec2Error(
      action,
      state === 'TIMEOUT' ? 'WaiterTimeout' : 'WaiterFailed',
      `waiting for ${what} (ec2:${action}) failed: ${detail}${extra ? ` (${extra})` : ''}`,
      { cause: error },
    );
  }
}
