/**
 * Running host tools, for the baker (mount, chroot, fsck) and the local provider (qemu-img, losetup).
 * One spawn underneath two call styles: `runCommand` rejects on failure with a CommandError (the baker's
 * style), `captureCommand` resolves with the exit code and output (the local provider's style), and
 * `mustRun` turns a failure into a PipelineError for a stage. Commands that need root run directly when
 * this process is root and through `sudo -n` otherwise (see privilegedArgv and Privileged), so that a
 * GitHub-hosted runner (passwordless sudo) works and a machine without it fails with one clear message.
 */
import { spawn } from 'node:child_process';
import { CancelledError, PipelineError } from '../errors.js';

interface SpawnOptions {
  input?: string | Buffer;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Kill the command after this long. */
  timeoutMs?: number;
  /** The signal for timeoutMs and signal; SIGTERM unless given. */
  killSignal?: NodeJS.Signals;
  /** Called with each chunk of output (for streaming long steps into the debug log). */
  onOutput?: (text: string) => void;
}

interface SpawnResult {
  /** null when the command was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts argv, feeds it input, collects its output; rejects only if the command cannot be started. */
function spawnCommand(argv: readonly string[], options: SpawnOptions): Promise<SpawnResult> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new Error('cannot run an empty command'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: options.signal,
      timeout: options.timeoutMs,
      killSignal: options.killSignal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      out.push(chunk);
      options.onOutput?.(chunk.toString());
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err.push(chunk);
      options.onOutput?.(chunk.toString());
    });
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

export const isRoot = (): boolean => process.getuid?.() === 0;

/** Prefixes `sudo -n` for privileged commands when not root; `-n` makes sudo fail instead of prompting. */
export function privilegedArgv(argv: readonly string[], root = isRoot()): string[] {
  return root ? [...argv] : ['sudo', '-n', '--', ...argv];
}

// ---------------------------------------------------------------------------------------------------
// Rejecting style: success or a CommandError.

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

const SUDO_REFUSED = /a password is required|may not run sudo|not in the sudoers|sudo: command not found/i;

export const runCommand: CommandRunner = async (argv, options = {}) => {
  const full = options.privileged ? privilegedArgv(argv) : [...argv];
  if (options.signal?.aborted) throw new CancelledError(`cancelled before ${argv[0]}`);
  const result = await spawnCommand(full, {
    cwd: options.cwd,
    env: { ...process.env, LC_ALL: 'C', ...options.env },
    input: options.input,
    signal: options.signal,
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.name === 'AbortError') throw new CancelledError(`cancelled while running ${argv[0]}`);
    if (error.code === 'ENOENT')
      throw new Error(`${full[0]} is not installed or not on PATH (needed to run ${argv.join(' ')})`);
    throw error;
  });
  const { code, stdout, stderr } = result;
  if (code === 0 || (code !== null && options.okCodes?.includes(code))) return { code, stdout, stderr };
  if (options.privileged && !isRoot() && SUDO_REFUSED.test(stderr)) {
    throw new Error(
      `${argv[0]} needs root: run ovenproof as root or give this user passwordless sudo ` +
        `(sudo -n refused: ${stderr.trim().split('\n')[0]})`,
    );
  }
  throw new CommandError(argv, code, stderr);
};

// ---------------------------------------------------------------------------------------------------
// Capturing style: the exit code and output, whatever they are.

export interface RunOptions {
  input?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Kill the command after this long. */
  timeoutMs?: number;
  /** Called with each chunk of output (for streaming long steps into the debug log). */
  onOutput?: (text: string) => void;
}

export interface RunResultText {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command and resolves with its exit code and output; rejects only if it cannot be started. */
export async function captureCommand(
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResultText> {
  const { code, signal, stdout, stderr } = await spawnCommand([cmd, ...args], {
    ...options,
    env: options.env ?? process.env,
    killSignal: 'SIGKILL',
  });
  return {
    code: code ?? (signal ? 128 : 1),
    stdout,
    stderr: stderr + (signal ? `\n(killed by ${signal})` : ''),
  };
}

function failureOf(stage: string, cmd: string, args: readonly string[], result: RunResultText) {
  const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-15).join('\n');
  return new PipelineError(stage, `${cmd} ${args.join(' ')} failed (exit ${result.code}): ${detail}`);
}

/** Like captureCommand, but a non-zero exit becomes a PipelineError naming the command and its stderr. */
export async function mustRun(
  stage: string,
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  const result = await captureCommand(cmd, args, options);
  if (result.code !== 0) throw failureOf(stage, cmd, args, result);
  return result.stdout;
}

/**
 * Runs privileged commands in the capturing style. It checks once whether root or `sudo -n` is
 * available, so that when neither is the first call fails with one message saying what to do.
 */
export class Privileged {
  private mode: Promise<'root' | 'sudo' | string> | null = null;

  /** Resolves to null when privileged commands can run here, else to the reason they cannot. */
  async unavailable(): Promise<string | null> {
    const mode = await this.detect();
    return mode === 'root' || mode === 'sudo' ? null : mode;
  }

  async run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResultText> {
    const mode = await this.detect();
    if (mode !== 'root' && mode !== 'sudo') throw new PipelineError('bake', mode);
    const [file, ...rest] = privilegedArgv([cmd, ...args], mode === 'root');
    return captureCommand(file ?? cmd, rest, options);
  }

  async mustRun(
    stage: string,
    cmd: string,
    args: readonly string[],
    options: RunOptions = {},
  ): Promise<string> {
    const result = await this.run(cmd, args, options);
    if (result.code !== 0) throw failureOf(stage, cmd, args, result);
    return result.stdout;
  }

  private detect(): Promise<'root' | 'sudo' | string> {
    this.mode ??= (async () => {
      if (isRoot()) return 'root';
      const probe = await captureCommand('sudo', ['-n', 'true'], { timeoutMs: 10_000 }).catch(() => null);
      if (probe?.code === 0) return 'sudo';
      return (
        'loop devices, mounts and chroot need root: run ovenproof as root, or allow passwordless sudo ' +
        'for this user (sudo -n true must succeed), or use bake-strategy: instance'
      );
    })();
    return this.mode;
  }
}
