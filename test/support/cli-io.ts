/**
 * An in-memory CliIo for calling a CLI command in-process and reading what it printed.
 */
import { PassThrough } from 'node:stream';
import type { CliCommand, CliIo } from '../../src/cli/command.js';

export function captureIo(options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (c: Buffer) => out.push(c.toString()));
  stderr.on('data', (c: Buffer) => err.push(c.toString()));
  const io: CliIo = {
    stdout,
    stderr,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    signal: new AbortController().signal,
  };
  return { io, stdout: () => out.join(''), stderr: () => err.join('') };
}

/** Runs one command with captured output; the exit code it returns, and what it printed. */
export async function runCommand(
  command: CliCommand,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const capture = captureIo(options);
  const code = await command.run(args, capture.io);
  return { code, stdout: capture.stdout(), stderr: capture.stderr() };
}
