import { CancelledError, PipelineError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { waitForSsh, type SshTarget } from './connect.js';
import {
  SshConnectionLostError,
  killScript,
  type DownloadedFile,
  type ExecOptions,
  type ExecResult,
  type SshSession,
} from './session.js';
import { shQuote } from './shell.js';

export interface CollectOptions {
  /** Local directory the result files are fetched into. */
  localDir: string;
  /** Per-file size limit for fetched result files. */
  maxBytes: number;
  /** Live output sinks, the test timeout and the cancellation signal of the test command. */
  exec?: ExecOptions;
  /** Deadline for the one reconnection after a dropped connection; default 60 s. */
  reconnectTimeoutMs?: number;
  log?: Logger;
  /** An already open session (from waitForSsh); it stays the caller's to close. Otherwise one is opened. */
  session?: SshSession;
  /** Stage named in errors; default `test`. */
  stage?: string;
}

export interface CollectResult {
  exec: ExecResult;
  /** Wall time of the test command alone (including a reconnection's wait for it), without the fetch. */
  commandMs: number;
  files: DownloadedFile[];
  /** The connection dropped during or after the command and was re-established once. */
  reconnected: boolean;
}

const DEFAULT_RECONNECT_MS = 60_000;

/**
 * Runs the test command and fetches the result files. If the SSH connection drops before the exit
 * status arrives, reconnects once, waits for the (still running or already finished) command through
 * its status file, then fetches the results as usual. The command's timeout spans both connections.
 */
export async function runAndCollect(
  target: SshTarget,
  command: string,
  resultPatterns: string[],
  options: CollectOptions,
): Promise<CollectResult> {
  const log = options.log ?? silentLogger;
  const stage = options.stage ?? 'test';
  const execOptions = options.exec ?? {};
  const reconnectTimeoutMs = options.reconnectTimeoutMs ?? DEFAULT_RECONNECT_MS;
  const started = Date.now();
  let session =
    options.session ??
    (await waitForSsh(target, { timeoutMs: reconnectTimeoutMs, signal: execOptions.signal, log, stage }));
  let owned = !options.session;
  let reconnected = false;
  try {
    let exec: ExecResult;
    try {
      exec = await session.exec(command, execOptions);
    } catch (error) {
      if (!(error instanceof SshConnectionLostError)) throw error;
      log.warn(`${error.message}; reconnecting once to wait for the command and fetch the results`);
      if (owned) await session.close().catch(() => undefined);
      session = await waitForSsh(target, {
        timeoutMs: reconnectTimeoutMs,
        signal: execOptions.signal,
        log,
        stage,
      });
      owned = true;
      reconnected = true;
      const remaining =
        execOptions.timeoutMs === undefined
          ? undefined
          : Math.max(1, execOptions.timeoutMs - (Date.now() - started));
      exec = await awaitDetachedCommand(session, error, remaining, execOptions.signal, stage, target);
    }
    const commandMs = Date.now() - started;
    const files = await session.download(resultPatterns, options.localDir, { maxBytes: options.maxBytes });
    return { exec, commandMs, files, reconnected };
  } finally {
    if (owned) await session.close().catch(() => undefined);
  }
}

/**
 * After a reconnection: blocks on the instance until the command of the lost connection has written its
 * status file (or died without one), bounded by what is left of its timeout.
 */
async function awaitDetachedCommand(
  session: SshSession,
  lost: SshConnectionLostError,
  timeoutMs: number | undefined,
  signal: AbortSignal | undefined,
  stage: string,
  target: SshTarget,
): Promise<ExecResult> {
  const pid = shQuote(lost.pidFile);
  const status = shQuote(lost.statusFile);
  let output = '';
  const waited = await session.exec(
    [
      `while [ ! -f ${status} ] && [ -f ${pid} ] && kill -0 "$(cat ${pid} 2>/dev/null)" 2>/dev/null; do sleep 0.5; done`,
      `if [ -f ${status} ]; then cat ${status}; rm -f ${status}; else echo gone; fi`,
    ].join('\n'),
    { onStdout: (text) => (output += text), signal, timeoutMs },
  );
  if (waited.timedOut) {
    await session.exec(killScript(lost.pidFile));
    return { exitCode: null, signal: 'KILL', timedOut: true };
  }
  if (signal?.aborted) throw new CancelledError('cancelled while waiting for the test command');
  const code = Number.parseInt(output.trim(), 10);
  if (!Number.isInteger(code)) {
    throw new PipelineError(
      stage,
      `the test command on ${target.host}:${target.port} ended without an exit status after the SSH connection dropped`,
    );
  }
  return { exitCode: code, signal: null, timedOut: false };
}
