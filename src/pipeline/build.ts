/**
 * The build stage: runs the user's `build` command in the project directory and collects the package
 * files matched by `package`. The command runs through bash exactly as written (on purpose: it is the
 * user's own shell command); no other value is ever put into a shell string.
 */
import * as exec from '@actions/exec';
import { glob } from 'tinyglobby';
import { readdir } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { PipelineError } from '../common/errors.js';

/** The last lines of the build output, for the build-failure annotation. */
export class OutputTail {
  private text = '';
  constructor(private readonly maxBytes = 16 * 1024) {}

  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.maxBytes * 2) this.text = this.text.slice(-this.maxBytes);
  }

  lines(count: number): string {
    return this.text
      .slice(-this.maxBytes)
      .split('\n')
      .slice(-count - 1)
      .join('\n')
      .trimEnd();
  }
}

export async function runBuildCommand(
  command: string,
  cwd: string,
  onOutput: (stream: 'stdout' | 'stderr', text: string) => void,
): Promise<number> {
  return exec.exec('bash', ['-eo', 'pipefail', '-c', command], {
    cwd,
    ignoreReturnCode: true,
    silent: true,
    listeners: {
      stdout: (data: Buffer) => onOutput('stdout', data.toString()),
      stderr: (data: Buffer) => onOutput('stderr', data.toString()),
    },
  });
}

const INSTALLABLE = /\.deb$/;

/** Resolves `package` globs relative to the project directory into installable files. */
export async function findPackageFiles(patterns: string[], projectDir: string): Promise<string[]> {
  const absolute = patterns.map((p) => (isAbsolute(p) ? p : resolve(projectDir, p)));
  const found = (await glob(absolute, { absolute: true, onlyFiles: true, expandDirectories: false })).sort();
  const installable = found.filter((f) => INSTALLABLE.test(f));
  if (installable.length > 0) return installable;

  const unsupported = found.map((f) => relative(projectDir, f));
  const nearby = await listDirectories(absolute);
  throw new PipelineError(
    'build',
    `package: ${patterns.join(', ')} matched no installable file (.deb)` +
      (unsupported.length
        ? `; found only ${unsupported.join(', ')} (only .deb packages are supported)`
        : '') +
      (nearby ? `; ${nearby}` : '') +
      ` (patterns are relative to ${projectDir})`,
  );
}

/** "build/ contains: a.txt, b.tar.gz" for each pattern's directory, to show what the build made. */
async function listDirectories(patterns: string[]): Promise<string> {
  const parts: string[] = [];
  for (const dir of new Set(patterns.map((p) => dirname(p)))) {
    if (/[*?[{]/.test(dir)) continue;
    const entries = await readdir(dir).catch(() => null);
    parts.push(
      entries === null
        ? `${dir} does not exist`
        : `${dir} contains: ${entries.sort().join(', ') || '(nothing)'}`,
    );
  }
  return parts.join('; ');
}
