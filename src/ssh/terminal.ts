/**
 * An interactive login shell on an instance, attached to the local terminal: on a TTY the remote side
 * gets a real terminal of the same type and size (kept in step when the window changes) and the local
 * one is put in raw mode, so every key — Ctrl-C, Ctrl-Z, Ctrl-D, arrows — goes to the remote terminal and
 * acts there. Without a TTY (a pipe) the shell reads the piped input and stops at its end.
 */
import { CancelledError } from '../common/errors.js';
import type { SshSession } from './session.js';
import { OpenSshSession } from './session.js';

export interface TerminalIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout: NodeJS.WritableStream & { isTTY?: boolean; rows?: number; columns?: number };
  stderr: NodeJS.WritableStream;
  /** Terminal type for the remote pty (the local $TERM). */
  term?: string;
}

/** Conventional exit status for "ended by signal N" and for a session that ended without a status. */
const SIGNAL_NUMBERS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, TERM: 15 };
const NO_STATUS = 255;

/** Runs the shell until it exits (or `signal` aborts) and resolves with its exit status. */
export async function interactiveShell(
  session: SshSession,
  io: TerminalIo,
  signal: AbortSignal,
): Promise<number> {
  if (!(session instanceof OpenSshSession)) throw new Error('interactive shells need an OpenSSH session');
  signal.throwIfAborted();
  const tty = Boolean(io.stdin.isTTY && io.stdin.setRawMode);
  const size = () => ({ rows: io.stdout.rows || 24, cols: io.stdout.columns || 80 });
  const channel = await session.openShell(tty ? { term: io.term || 'xterm-256color', ...size() } : null);

  return new Promise<number>((resolve, reject) => {
    let status: number | null = null;
    const onInput = (chunk: Buffer | string) => channel.write(chunk);
    const onInputEnd = () => channel.end();
    const onResize = () => {
      const { rows, cols } = size();
      channel.setWindow(rows, cols, 0, 0);
    };
    const onAbort = () => channel.close();
    const restore = () => {
      io.stdin.off('data', onInput);
      io.stdin.off('end', onInputEnd);
      io.stdout.off('resize', onResize);
      signal.removeEventListener('abort', onAbort);
      if (tty) io.stdin.setRawMode!(false);
      io.stdin.pause();
    };

    channel.on('data', (chunk: Buffer) => io.stdout.write(chunk));
    channel.stderr.on('data', (chunk: Buffer) => io.stderr.write(chunk));
    channel.on('exit', (code: number | null, signalName?: string) => {
      if (typeof code === 'number') status = code;
      else if (signalName) status = 128 + (SIGNAL_NUMBERS[String(signalName)] ?? 0);
    });
    channel.on('close', () => {
      restore();
      if (signal.aborted)
        reject(signal.reason instanceof Error ? signal.reason : new CancelledError('cancelled'));
      else resolve(status ?? NO_STATUS);
    });

    if (tty) {
      io.stdin.setRawMode!(true);
      io.stdout.on('resize', onResize);
    }
    io.stdin.on('data', onInput);
    io.stdin.on('end', onInputEnd);
    io.stdin.resume();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
