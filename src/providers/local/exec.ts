/**
 * Child-process helpers for the local provider: run a host tool with captured output, and run the few
 * steps that need root (losetup, mount, chroot) directly when root or through `sudo -n` otherwise.
 */
import { spawn } from 'node:child_process';
import { PipelineError } from '../../common/errors.js';

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
export function runCommand(
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResultText> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: options.signal,
      timeout: options.timeoutMs,
      killSignal: 'SIGKILL',
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
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString() + (signal ? `\n(killed by ${signal})` : ''),
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Like runCommand, but a non-zero exit becomes a PipelineError naming the command and its stderr. */
export async function mustRun(
  stage: string,
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  const result = await runCommand(cmd, args, options);
  if (result.code !== 0) {
    const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-15).join('\n');
    throw new PipelineError(stage, `${cmd} ${args.join(' ')} failed (exit ${result.code}): ${detail}`);
  }
  return result.stdout;
}

/**
 * Runs privileged commands. As root they run directly; otherwise through `sudo -n` (never prompting),
 * and when neither works the first call fails with one message saying what to do.
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
    if (mode === 'root') return runCommand(cmd, args, options);
    if (mode === 'sudo') return runCommand('sudo', ['-n', '--', cmd, ...args], options);
    throw new PipelineError('bake', mode);
  }

  async mustRun(
    stage: string,
    cmd: string,
    args: readonly string[],
    options: RunOptions = {},
  ): Promise<string> {
    const result = await this.run(cmd, args, options);
    if (result.code !== 0) {
      const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-15).join('\n');
      throw new PipelineError(stage, `${cmd} ${args.join(' ')} failed (exit ${result.code}): ${detail}`);
    }
    return result.stdout;
  }

  private detect(): Promise<'root' | 'sudo' | string> {
    this.mode ??= (async () => {
      if (process.getuid?.() === 0) return 'root';
      const probe = await runCommand('sudo', ['-n', 'true'], { timeoutMs: 10_000 }).catch(() => null);
      if (probe?.code === 0) return 'sudo';
      return (
        'loop devices, mounts and chroot need root: run ovenproof as root, or allow passwordless sudo ' +
        'for this user (sudo -n true must succeed), or use bake-strategy: instance'
      );
    })();
    return this.mode;
  }
}
