/** Starts bake-child.ts as a real process and follows its stdout protocol. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { BakeRequest } from '../../../src/baker/index.js';

export interface RunningBake {
  child: ChildProcess;
  /** Resolves with the first line starting with one of the prefixes; rejects if the child exits first. */
  waitFor(prefixes: string[]): Promise<string>;
  exited: Promise<number | null>;
  output(): string;
}

export function startBakeChild(config: {
  ledger: string;
  request: BakeRequest;
  holdAfter?: string;
}): RunningBake {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'bake-child.ts'), JSON.stringify(config)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    },
  );
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const waiters: Array<{ prefixes: string[]; resolve: (line: string) => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.prefixes.some((p) => line.startsWith(p))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const output = () => `${lines.join('\n')}\n--- stderr ---\n${stderr}`;
  return {
    child,
    exited,
    output,
    waitFor: (prefixes) =>
      new Promise<string>((resolve, reject) => {
        const seen = lines.find((line) => prefixes.some((p) => line.startsWith(p)));
        if (seen) return resolve(seen);
        waiters.push({ prefixes, resolve });
        void exited.then((code) =>
          reject(new Error(`bake child exited (${code}) before ${prefixes.join('/')}:\n${output()}`)),
        );
      }),
  };
}
