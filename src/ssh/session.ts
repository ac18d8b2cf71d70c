import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { pipeline } from 'node:stream/promises';
import type { Client, ClientChannel, SFTPWrapper } from 'ssh2';
import { CancelledError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { SshTarget } from './connect.js';
import { globWord, shQuote } from './shell.js';

export interface ExecOptions {
  onStdout?: (text: string) => void;
  onStderr?: (text: string) => void;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
}

export interface DownloadedFile {
  remotePath: string;
  localPath: string;
  bytes: number;
  /** The remote file was larger than maxBytes: only its first maxBytes bytes were fetched. */
  truncated: boolean;
}

export interface SshSession {
  /** Runs a sh command line; output streams live; on timeout/abort the remote process group is killed. */
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** SFTP upload; `mode` (e.g. 0o755) is applied after writing. */
  upload(localPath: string, remotePath: string, mode?: number): Promise<void>;
  /** Expands the globs on the instance (relative to the login directory) and fetches each regular file. */
  download(
    remotePatterns: string[],
    localDir: string,
    options: { maxBytes: number },
  ): Promise<DownloadedFile[]>;
  close(): Promise<void>;
}

/**
 * The SSH connection ended before the remote command reported its exit status. The command may still
 * be running or may have finished: `statusFile` on the instance receives its exit code when it ends,
 * `pidFile` holds the pid of its process group leader while it runs (see runAndCollect).
 */
export class SshConnectionLostError extends Error {
  constructor(
    message: string,
    readonly pidFile: string,
    readonly statusFile: string,
  ) {
    super(message);
    this.name = 'SshConnectionLostError';
  }
}

/** Grace period for the remote command to exit after SIGTERM before SIGKILL (tenths of a second). */
const TERM_GRACE_TENTHS = 20;
/** How long to wait for the channel to close after the kill before giving up on it. */
const CLOSE_AFTER_KILL_MS = 10_000;

/** sh lines that signal the process group recorded in `pidFile`, TERM first, KILL after a grace period. */
export function killScript(pidFile: string): string {
  const f = shQuote(pidFile);
  // dash's kill has no `--`, so the group is addressed as `-PGID` right after the signal name. When the
  // recorded shell is not a group leader (no setsid by the server) only its pid can be signalled.
  return [
    `p=$(cat ${f} 2>/dev/null) || exit 0`,
    `kill -TERM -"$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null`,
    `i=0; while kill -0 -"$p" 2>/dev/null && [ "$i" -lt ${TERM_GRACE_TENTHS} ]; do sleep 0.1; i=$((i+1)); done`,
    `kill -KILL -"$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null`,
    `rm -f ${f}`,
    'exit 0',
  ].join('\n');
}

/**
 * Wraps a user command so that (1) the pid of the login shell (the process group leader that sshd
 * created with setsid) is recorded for a later group kill and (2) the exit code lands in a status file,
 * which survives a dropped connection.
 */
export function wrapCommand(command: string, pidFile: string, statusFile: string): string {
  return [
    `printf '%s\\n' "$$" > ${shQuote(pidFile)}`,
    `/bin/sh -c ${shQuote(command)}`,
    `s=$?`,
    `printf '%s\\n' "$s" > ${shQuote(statusFile)}.tmp && mv -f ${shQuote(statusFile)}.tmp ${shQuote(statusFile)}`,
    `rm -f ${shQuote(pidFile)}`,
    `exit "$s"`,
  ].join('\n');
}

export class OpenSshSession implements SshSession {
  private sftpSession: Promise<SFTPWrapper> | null = null;
  private closed = false;
  private readonly closedPromise: Promise<void>;
  /** Why the connection ended, for error messages of commands in flight. */
  private lastError: string | null = null;

  constructor(
    private readonly client: Client,
    readonly target: SshTarget,
    private readonly log: Logger,
  ) {
    this.closedPromise = new Promise((resolve) => {
      client.once('close', () => {
        this.closed = true;
        resolve();
      });
    });
    client.on('error', (error: Error) => {
      this.lastError = error.message;
      log.debug(`SSH connection to ${target.host}:${target.port}: ${error.message}`);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const id = randomBytes(8).toString('hex');
    const pidFile = `/tmp/.ovenproof-exec-${id}.pid`;
    const statusFile = `/tmp/.ovenproof-exec-${id}.status`;
    const where = `${this.target.host}:${this.target.port}`;
    if (options.signal?.aborted)
      return Promise.reject(new CancelledError('command cancelled before it started'));
    return new Promise<ExecResult>((resolve, reject) => {
      this.openChannel(wrapCommand(command, pidFile, statusFile))
        .then((stream) => {
          let exitCode: number | null = null;
          let exitSignal: string | null = null;
          let exited = false;
          let stopping: 'timeout' | 'abort' | null = null;
          let timer: NodeJS.Timeout | undefined;
          let closeTimer: NodeJS.Timeout | undefined;
          const out = new StringDecoder('utf8');
          const err = new StringDecoder('utf8');

          const cleanup = (): void => {
            clearTimeout(timer);
            clearTimeout(closeTimer);
            options.signal?.removeEventListener('abort', onAbort);
          };
          const stop = (why: 'timeout' | 'abort'): void => {
            if (stopping || exited) return;
            stopping = why;
            this.log.warn(
              why === 'timeout'
                ? `test command exceeded ${options.timeoutMs} ms on ${where}: killing its process group`
                : `cancelled: killing the remote command on ${where}`,
            );
            this.runQuiet(killScript(pidFile)).catch((error: unknown) =>
              this.log.warn(`could not kill the remote command: ${errorMessage(error)}`),
            );
            // Processes that left the group (daemons) may keep the channel open: stop waiting for them.
            closeTimer = setTimeout(() => stream.close(), CLOSE_AFTER_KILL_MS);
          };
          const onAbort = (): void => stop('abort');

          stream.on('data', (chunk: Buffer) => {
            const text = out.write(chunk);
            if (text) options.onStdout?.(text);
          });
          stream.stderr.on('data', (chunk: Buffer) => {
            const text = err.write(chunk);
            if (text) options.onStderr?.(text);
          });
          stream.on('exit', (code: number | null, signalName?: string) => {
            exited = true;
            exitCode = typeof code === 'number' ? code : null;
            exitSignal = signalName ? String(signalName) : null;
          });
          stream.on('close', () => {
            cleanup();
            const restOut = out.end();
            if (restOut) options.onStdout?.(restOut);
            const restErr = err.end();
            if (restErr) options.onStderr?.(restErr);
            if (stopping === 'abort') {
              reject(new CancelledError(`command on ${where} cancelled`));
            } else if (stopping === 'timeout') {
              resolve({ exitCode: exited ? exitCode : null, signal: exitSignal ?? 'KILL', timedOut: true });
            } else if (exited) {
              resolve({ exitCode, signal: exitSignal, timedOut: false });
            } else {
              reject(
                new SshConnectionLostError(
                  `SSH connection to ${where} ended before the command reported its exit status` +
                    (this.lastError ? ` (${this.lastError})` : ''),
                  pidFile,
                  statusFile,
                ),
              );
            }
          });
          // The test command gets EOF on stdin, as with `ssh host cmd </dev/null`.
          stream.end();
          if (options.timeoutMs !== undefined) timer = setTimeout(() => stop('timeout'), options.timeoutMs);
          options.signal?.addEventListener('abort', onAbort, { once: true });
        })
        .catch(reject);
    });
  }

  /** Runs a helper command and returns its stdout (bounded); used for globbing and kills. */
  async runQuiet(
    command: string,
    maxOutput = 1 << 20,
  ): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
    const stream = await this.openChannel(command);
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let stderr = '';
      let code: number | null = null;
      stream.on('data', (chunk: Buffer) => {
        if (size < maxOutput) chunks.push(chunk);
        size += chunk.length;
      });
      stream.stderr.on('data', (chunk: Buffer) => {
        if (stderr.length < 4096) stderr += chunk.toString('utf8');
      });
      stream.on('exit', (exit: number | null) => {
        code = typeof exit === 'number' ? exit : null;
      });
      stream.on('close', () =>
        resolve({ code, stdout: Buffer.concat(chunks).subarray(0, maxOutput), stderr }),
      );
      stream.end();
    });
  }

  /**
   * Opens the login shell. With `pty`, the remote side gets a terminal of that type and size (what an
   * interactive user needs: line editing, job control, Ctrl-C as a signal); without, plain pipes.
   */
  openShell(pty: { term: string; rows: number; cols: number } | null): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new Error(`SSH connection to ${this.target.host}:${this.target.port} is closed`));
        return;
      }
      const callback = (error: Error | undefined, stream: ClientChannel) =>
        error ? reject(error) : resolve(stream);
      if (pty)
        this.client.shell({ term: pty.term, rows: pty.rows, cols: pty.cols, width: 0, height: 0 }, callback);
      else this.client.shell(false, callback);
    });
  }

  private openChannel(command: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new Error(`SSH connection to ${this.target.host}:${this.target.port} is closed`));
        return;
      }
      this.client.exec(command, (error, stream) => (error ? reject(error) : resolve(stream)));
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpSession ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((error, sftp) => (error ? reject(error) : resolve(sftp)));
    });
    return this.sftpSession;
  }

  async upload(localPath: string, remotePath: string, mode?: number): Promise<void> {
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) =>
      sftp.fastPut(localPath, remotePath, (error) => (error ? reject(error) : resolve())),
    );
    if (mode !== undefined) {
      await new Promise<void>((resolve, reject) =>
        sftp.chmod(remotePath, mode, (error) => (error ? reject(error) : resolve())),
      );
    }
  }

  async download(
    remotePatterns: string[],
    localDir: string,
    options: { maxBytes: number },
  ): Promise<DownloadedFile[]> {
    if (remotePatterns.length === 0) return [];
    const words = remotePatterns.map(globWord).join(' ');
    // Unmatched globs stay literal and fail the -f test, so they simply yield nothing.
    const listing = await this.runQuiet(
      `for f in ${words}; do if [ -f "$f" ]; then printf '%s\\0' "$f"; fi; done`,
    );
    if (listing.code !== 0) {
      throw new Error(
        `listing result files on the instance failed (exit ${listing.code}): ${listing.stderr.trim()}`,
      );
    }
    const remotePaths = [...new Set(listing.stdout.toString('utf8').split('\0').filter(Boolean))];
    if (remotePaths.length === 0) return [];
    await mkdir(localDir, { recursive: true });
    const sftp = await this.sftp();
    const used = new Set<string>();
    const files: DownloadedFile[] = [];
    for (const remotePath of remotePaths) {
      const localPath = join(localDir, uniqueLocalName(remotePath, used));
      const size = await new Promise<number>((resolve, reject) =>
        sftp.stat(remotePath, (error, stats) => (error ? reject(error) : resolve(stats.size))),
      );
      const truncated = size > options.maxBytes;
      let bytes = 0;
      if (options.maxBytes > 0 && size > 0) {
        const source = sftp.createReadStream(remotePath, {
          start: 0,
          end: Math.min(size, options.maxBytes) - 1,
        });
        source.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        await pipeline(source, createWriteStream(localPath, { mode: 0o600 }));
      } else {
        await writeFile(localPath, '', { mode: 0o600 });
      }
      if (truncated) {
        this.log.warn(
          `result file ${remotePath} is ${size} bytes, over the ${options.maxBytes} byte limit: truncated`,
        );
      }
      files.push({ remotePath, localPath, bytes, truncated });
    }
    return files;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.client.end();
    await Promise.race([this.closedPromise, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    if (!this.closed) this.client.destroy();
  }
}

/** A safe local file name for a remote path: its base name, made unique within one download. */
function uniqueLocalName(remotePath: string, used: Set<string>): string {
  const base =
    basename(remotePath)
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .replace(/^\.+/, '_') || 'result';
  let name = base;
  const ext = extname(base);
  const stem = base.slice(0, base.length - ext.length);
  for (let n = 2; used.has(name); n++) name = `${stem}-${n}${ext}`;
  used.add(name);
  return name;
}
