import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `git rev-parse` in a directory; null outside a work tree or without git. */
async function revParse(cwd: string, ...args: string[]): Promise<string | null> {
  try {
    const { stdout } = await run('git', ['rev-parse', ...args], { cwd });
    return stdout.trim() || null;
  } catch {
    return null;
  }
}

export const gitTopLevel = (cwd: string) => revParse(cwd, '--show-toplevel');
export const gitHead = (cwd: string) => revParse(cwd, 'HEAD');
