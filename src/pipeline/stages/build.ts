/**
 * The build stage: runs the user's `build` command in the project directory and collects the package
 * files matched by `package`. The command runs through bash exactly as written (on purpose: it is the
 * user's own shell command); no other value is ever put into a shell string.
 */
import { spawn } from 'node:child_process';
import { glob } from 'tinyglobby';
import { readdir } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { CancelledError, PipelineError } from '../../common/errors.js';
import type { Step } from '../../common/steps.js';
import type { RunState } from './state.js';

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

/**
 * Runs the build command in its own process group, so that a cancel or timeout stops everything it
 * started (a make spawning compilers), not only bash.
 */
export async function runBuildCommand(
  command: string,
  cwd: string,
  onOutput: (stream: 'stdout' | 'stderr', text: string) => void,
  signal?: AbortSignal,
): Promise<number> {
  if (signal?.aborted) throw signal.reason ?? new CancelledError('cancelled before the build');
  const child = spawn('bash', ['-eo', 'pipefail', '-c', command], {
    cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = () => {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  };
  signal?.addEventListener('abort', stop, { once: true });
  child.stdout.on('data', (data: Buffer) => onOutput('stdout', data.toString()));
  child.stderr.on('data', (data: Buffer) => onOutput('stderr', data.toString()));
  try {
    const code = await new Promise<number>((resolveCode, reject) => {
      child.on('error', reject);
      child.on('close', (exit, killedBy) => resolveCode(exit ?? (killedBy ? 128 : 1)));
    });
    if (signal?.aborted) throw signal.reason ?? new CancelledError('the build was cancelled');
    return code;
  } finally {
    signal?.removeEventListener('abort', stop);
  }
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

/** Runs the user's build command and collects the package files it made. */
export const buildStage: Step<RunState> = {
  name: 'build',
  async run(s, signal) {
    const { config, events, log } = s.deps;
    if (config.build) {
      log.info(`build: ${config.build}`);
      const code = await runBuildCommand(
        config.build,
        config.projectDir,
        (stream, text) => {
          s.buildTail.push(text);
          events.emit({ type: 'output', stage: 'build', stream, text });
        },
        signal,
      );
      if (code !== 0) {
        s.buildFailed = true;
        throw new PipelineError('build', `build command failed with exit code ${code}: ${config.build}`);
      }
    }
    if (config.package.length > 0) {
      s.packageFiles = await findPackageFiles(config.package, config.projectDir);
      log.info(`packages: ${s.packageFiles.map((f) => relative(config.projectDir, f)).join(', ')}`);
    }
  },
};
