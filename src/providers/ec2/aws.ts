/**
 * The EC2 client and the guards every call goes through: action-named errors, DryRun permission
 * probes in front of waiters (an SDK waiter retries AccessDenied until it times out), bounded retries
 * of NotFound right after a create (eventual consistency), and waiters with explicit limits.
 */
import { EC2Client, type EC2ClientConfig } from '@aws-sdk/client-ec2';
import { formatDuration } from '../../common/duration.js';
import { errorMessage } from '../../common/errors.js';
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
        const e = error as SdkFailure;
        if (CAPACITY_CODES.has(errorCode(error)) && e.$metadata) e.$metadata.httpStatusCode = 400;
        // Where the request went, for failures that are not EC2's answer (an HTML page, a reset).
        const request = (
          args as { request?: { protocol?: string; hostname?: string; port?: number; path?: string } }
        ).request;
        if (request?.hostname && error && typeof error === 'object')
          Object.defineProperty(error, '$ovenproofEndpoint', {
            value: `${request.protocol ?? 'https:'}//${request.hostname}${request.port ? `:${request.port}` : ''}${request.path ?? '/'}`,
            enumerable: false,
            configurable: true,
          });
        throw error;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'ovenproofCapacityIsFinal' },
  );
  return client;
}

/** What the SDK attaches to a failed call; every field is optional (network errors carry none). */
interface SdkFailure {
  Code?: unknown;
  name?: unknown;
  message?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $response?: { statusCode?: number; body?: unknown };
  $responseBodyText?: unknown;
  /** Set by the client's middleware below: where the failed request went. */
  $ovenproofEndpoint?: string;
}

/**
 * The error code EC2 returned (`InvalidInstanceID.NotFound`, `UnauthorizedOperation`…), or '' when
 * EC2 did not answer with one (a network error, an answer that was not EC2's XML). The name of a plain
 * `Error` or `TypeError` is not a code.
 */
export function errorCode(error: unknown): string {
  if (!error || typeof error !== 'object') return '';
  const e = error as SdkFailure;
  if (typeof e.Code === 'string' && e.Code) return e.Code;
  if (error instanceof Ec2Error) return error.code;
  return e.$fault && typeof e.name === 'string' ? e.name : '';
}

export function isNotFound(error: unknown): boolean {
  const code = errorCode(error);
  return code.endsWith('.NotFound') || code.endsWith('NotFound') || code === 'InvalidAMIID.Unavailable';
}

/** A request EC2 rejected (4xx): nothing was created. Server errors and lost answers are not. */
export function isClientError(error: unknown): boolean {
  const status = httpStatus(error);
  return status !== undefined && status >= 400 && status < 500;
}

export function isPermissionError(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'UnauthorizedOperation' || code === 'AccessDenied' || code === 'AccessDeniedException';
}

function httpStatus(error: unknown): number | undefined {
  if (error instanceof Ec2Error) return error.httpStatus;
  const e = (error ?? {}) as SdkFailure;
  return e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
}

/** An EC2 call failed; `action` is the IAM action name (RunInstances), `code` EC2's error code or ''. */
export class Ec2Error extends Error {
  readonly exitCode = 2;
  constructor(
    readonly action: string,
    readonly code: string,
    message: string,
    options?: { cause?: unknown; httpStatus?: number; requestId?: string; resource?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'Ec2Error';
    this.httpStatus = options?.httpStatus;
    this.requestId = options?.requestId;
    this.resource = options?.resource;
  }
  readonly httpStatus: number | undefined;
  readonly requestId: string | undefined;
  readonly resource: string | undefined;
}

/** The first bytes of an answer that was not EC2's XML, on one line. */
function bodyExcerpt(e: SdkFailure): string {
  const raw = typeof e.$responseBodyText === 'string' ? e.$responseBodyText : e.$response?.body;
  if (typeof raw !== 'string') return '';
  const flat = raw.replace(/\s+/g, ' ').trim();
  return flat.length > 160 ? `${flat.slice(0, 160)}…` : flat;
}

/** A failure's own words on one line (never a bare "Error": see errorMessage). */
function ownWords(error: unknown): string {
  return errorMessage(error).trim().split('\n')[0]!;
}

/**
 * The one place an EC2 failure becomes a message: operation, resource, EC2's error code and message,
 * HTTP status and request id; an answer that was not EC2's XML (a proxy's or stand-in's HTML page) as
 * "HTTP N from ENDPOINT" with the first bytes of its body; a permission error with the action to add.
 */
export function describeFailure(action: string, error: unknown, resource?: string): Ec2Error {
  if (error instanceof Ec2Error) return error;
  const e = (error ?? {}) as SdkFailure;
  const code = errorCode(error);
  const status = httpStatus(error);
  const requestId = e.$metadata?.requestId;
  const what = `ec2:${action}${resource ? ` ${resource}` : ''}`;
  const where = [status ? `HTTP ${status}` : '', requestId ? `request id ${requestId}` : '']
    .filter(Boolean)
    .join(', ');
  let message: string;
  if (isPermissionError(error)) {
    // The message of UnauthorizedOperation carries an opaque "Encoded authorization failure message"
    // blob; the actionable part is which permission is missing.
    message = `ec2:${action} is not allowed for these credentials (${code})${resource ? ` on ${resource}` : ''}: add "ec2:${action}" to the IAM policy (docs/aws.md${where ? `; ${where}` : ''})`;
  } else if (code) {
    message = `${what} failed: ${code}: ${ownWords(error)}${where ? ` (${where})` : ''}`;
  } else if (status !== undefined) {
    const excerpt = bodyExcerpt(e);
    message = `${what} failed: HTTP ${status} from ${e.$ovenproofEndpoint ?? 'the EC2 endpoint'}, not an EC2 answer${excerpt ? `: ${excerpt}` : ''}`;
  } else {
    message = `${what} failed: ${ownWords(error)}${e.$ovenproofEndpoint ? ` (${e.$ovenproofEndpoint})` : ''}`;
  }
  return new Ec2Error(action, code, message, {
    cause: error,
    ...(status !== undefined ? { httpStatus: status } : {}),
    ...(requestId ? { requestId } : {}),
    ...(resource ? { resource } : {}),
  });
}

/** Runs one EC2 call and turns its failure into an error naming the action and resource. */
export async function call<T>(action: string, fn: () => Promise<T>, resource?: string): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw describeFailure(action, error, resource);
  }
}

/** Runs one EC2 call; NotFound (the resource is already gone) answers `undefined`. */
export async function callUnlessGone<T>(
  action: string,
  fn: () => Promise<T>,
  resource?: string,
): Promise<T | undefined> {
  try {
    return await fn();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw describeFailure(action, error, resource);
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

export interface RetryOptions {
  timeoutMs: number;
  baseMs: number;
  /** Longest pause between two attempts. */
  maxDelayMs?: number;
  signal?: AbortSignal;
  resource?: string;
}

/**
 * Retries `fn` with exponential backoff while `transient(error)` holds and `timeoutMs` allows; any
 * other failure, or the last transient one, is thrown with its cause.
 */
export async function retryWhile<T>(
  action: string,
  fn: () => Promise<T>,
  transient: (error: unknown) => boolean,
  opts: RetryOptions,
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let delay = opts.baseMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (!transient(error) || Date.now() + delay > deadline)
        throw describeFailure(action, error, opts.resource);
      await sleep(delay, opts.signal);
      delay = Math.min(delay * 2, opts.maxDelayMs ?? Math.max(opts.baseMs, 10_000));
    }
  }
}

/**
 * Retries `fn` while EC2 answers NotFound: right after a create, NotFound means "not visible yet",
 * not "does not exist".
 */
export function retryNotFound<T>(action: string, fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  return retryWhile(action, fn, isNotFound, opts);
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
    const raw = errorMessage(error);
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
