/**
 * Where a bake's shared steps (install, identity init, hygiene, package listing) act: the chroot of a
 * mounted volume, or a builder instance over SSH. Scripts run as root with the OS plugin's environment.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import type { SshSession } from '../ssh/session.js';
import { shQuote } from '../ssh/shell.js';
import { runCommand, type CommandRunner } from '../common/host/command.js';

export interface BakeTarget {
  /** Runs a POSIX sh script as root; rejects with the tail of its output when it fails. */
  sh(script: string, options?: { signal?: AbortSignal }): Promise<string>;
  /** Copies a host file to an absolute path on the target. */
  putFile(localPath: string, targetPath: string, mode: number): Promise<void>;
  writeFile(targetPath: string, content: string, mode: number): Promise<void>;
}

const envPrefix = (env: Record<string, string>) =>
  Object.entries(env)
    .map(([k, v]) => `${k}=${shQuote(v)}`)
    .join(' ');

function assertTargetPath(path: string): void {
  if (!path.startsWith('/') || posix.normalize(path) !== path) {
    throw new Error(`target path "${path}" must be absolute and normalised`);
  }
}

/**
 * The chroot of a mounted volume. Files are written by a shell *inside* the chroot, so a symlink in the
 * image can never redirect a write onto the host.
 */
export class ChrootTarget implements BakeTarget {
  constructor(
    readonly root: string,
    private readonly env: Record<string, string>,
    private readonly run: CommandRunner = runCommand,
  ) {}

  async sh(script: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    const result = await this.run(
      ['chroot', this.root, '/usr/bin/env', '-i', ...envArgs(this.env), '/bin/sh', '-c', script],
      {
        privileged: true,
        signal: options.signal,
      },
    );
    return result.stdout;
  }

  async putFile(localPath: string, targetPath: string, mode: number): Promise<void> {
    await this.writeBytes(targetPath, await readFile(localPath), mode);
  }

  async writeFile(targetPath: string, content: string, mode: number): Promise<void> {
    await this.writeBytes(targetPath, Buffer.from(content), mode);
  }

  private async writeBytes(targetPath: string, bytes: Buffer, mode: number): Promise<void> {
    assertTargetPath(targetPath);
    const script = `mkdir -p "$(dirname "$1")" && cat > "$1" && chmod ${mode.toString(8)} "$1"`;
    await this.run(['chroot', this.root, '/bin/sh', '-c', script, 'sh', targetPath], {
      privileged: true,
      input: bytes,
    });
  }
}

const envArgs = (env: Record<string, string>) => Object.entries(env).map(([k, v]) => `${k}=${v}`);

/** A builder instance reached over SSH; a non-root login user runs everything through `sudo -n`. */
export class SshBakeTarget implements BakeTarget {
  constructor(
    private readonly session: SshSession,
    private readonly user: string,
    private readonly env: Record<string, string>,
  ) {}

  private wrap(script: string): string {
    const inner = `${envPrefix(this.env)} /bin/sh -c ${shQuote(script)}`;
    return this.user === 'root' ? inner : `sudo -n env ${inner}`;
  }

  async sh(script: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    let stdout = '';
    let stderr = '';
    const result = await this.session.exec(this.wrap(script), {
      signal: options.signal,
      onStdout: (text) => (stdout += text),
      onStderr: (text) => (stderr += text),
    });
    if (result.exitCode !== 0) {
      const tail = (stderr.trim() || stdout.trim()).split('\n').slice(-8).join('\n');
      const how = result.timedOut
        ? 'timed out'
        : result.signal
          ? `killed by ${result.signal}`
          : `exit ${result.exitCode}`;
      throw new Error(`command on the builder failed (${how}): ${tail}`);
    }
    return stdout;
  }

  async putFile(localPath: string, targetPath: string, mode: number): Promise<void> {
    assertTargetPath(targetPath);
    // SFTP runs as the login user: upload to a private name in /tmp (the builder is ours alone), then
    // move it into place as root.
    const staging = `/tmp/.ovenproof-upload-${randomBytes(6).toString('hex')}`;
    await this.session.upload(localPath, staging, 0o600);
    await this.sh(
      `mkdir -p ${shQuote(posix.dirname(targetPath))} && install -m ${mode.toString(8)} ${staging} ${shQuote(targetPath)} && rm -f ${staging}`,
    );
  }

  async writeFile(targetPath: string, content: string, mode: number): Promise<void> {
    assertTargetPath(targetPath);
    const encoded = Buffer.from(content).toString('base64');
    await this.sh(
      `mkdir -p ${shQuote(posix.dirname(targetPath))} && printf %s ${shQuote(encoded)} | base64 -d > ${shQuote(targetPath)} && chmod ${mode.toString(8)} ${shQuote(targetPath)}`,
    );
  }
}
