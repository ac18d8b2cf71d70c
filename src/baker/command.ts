/**
 * Host commands the baker runs (losetup-free: the provider attaches volumes; the baker mounts, chroots
 * and unmounts). Privileged commands run directly as root and through `sudo -n` otherwise, so that a
 * GitHub-hosted runner (passwordless sudo) works and a machine without it fails with one clear message.
 */
import { spawn } from 'node:child_process';
import { CancelledError } from '../common/errors.js';

export interface CommandOptions {
  /** Needs root: run through `sudo -n` when this process is not root. */
  privileged?: boolean;
  /** Written to the command's stdin, then stdin is closed. */
  input?: string | Buffer;
  env?: Record<string, string>;
  /** Exit codes that count as success besides 0 (e.g. e2fsck's 1 = "errors corrected"). */
  okCodes?: number[];
  signal?: AbortSignal;
  cwd?: string;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The command line for messages: scripts passed as one argument are cut to their first line. */
export function describeArgv(argv: readonly string[]): string {
  return argv
    .map((arg) => {
      const first = arg.split('\n', 1)[0] ?? '';
      return first.length > 80 || first !== arg ? `${first.slice(0, 80)}…` : arg;
    })
    .join(' ');
}

export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    const tail = stderr.trim().split('\n').slice(-6).join('\n');
    super(
      `${describeArgv(argv)} failed (${code === null ? 'killed' : `exit ${code}`})${tail ? `: ${tail}` : ''}`,
    );
    this.name = 'CommandError';
  }
}

export type CommandRunner = (argv: readonly string[], options?: CommandOptions) => Promise<CommandResult>;

const isRoot = (): boolean => process.getuid?.() === 0;

/** Prefixes `sudo -n` for privileged commands when not root; `-n` makes sudo fail instead of prompting. */
export function privilegedArgv(argv: readonly string[], root = isRoot()): string[] {
  return root ? [...argv] : ['sudo', '-n', '--', ...argv];
}

const SUDO_REFUSED = /a password is required|may not run sudo|not in the sudoers|sudo: command not found/i;

export const runCommand: CommandRunner = (argv, options = {}) => {
  const full = options.privileged ? privilegedArgv(argv) : [...argv];
  const [file, ...args] = full;
  if (!file) return Promise.reject(new Error('runCommand: empty command'));
  if (options.signal?.aborted) return Promise.reject(new CancelledError(`cancelled before ${argv[0]}`));
  return new Promise<CommandResult>((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: { ...process.env, LC_ALL: 'C', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: options.signal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.name === 'AbortError') reject(new CancelledError(`cancelled while running ${argv[0]}`));
      else if (error.code === 'ENOENT')
        reject(new Error(`${file} is not installed or not on PATH (needed to run ${argv.join(' ')})`));
      else reject(error);
    });
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0 || (code !== null && options.okCodes?.includes(code))) {
        resolve({ code, stdout, stderr });
        return;
      }
      if (options.privileged && !isRoot() && SUDO_REFUSED.test(stderr)) {
        reject(
          new Error(
            `${argv[0]} needs root: run ovenproof as root or give this user passwordless sudo ` +
              `(sudo -n refused: ${stderr.trim().split('\n')[0]})`,
          ),
        );
        return;
      }
      reject(new CommandError(argv, code, stderr));
    });
  });
};
