/**
 * `ovenproof reproduce` boots a failure image (or any image) again with a new identity and gives you its
 * shell or runs one command there; `ovenproof ssh` does the same for an instance a run kept.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { CliCommand, CliIo } from '../command.js';
import { parseCommandArgs } from '../args.js';
import { createStderrLogger } from '../logger.js';
import { ConfigError, ExitCode } from '../../common/errors.js';
import { requireDuration } from '../../common/duration.js';
import type { Logger } from '../../common/log.js';
import type { DebugSsh } from '../../common/run-result.js';
import { createProvider, providerSettingsFor } from '../../pipeline/providers.js';
import { resolveConfig } from '../../pipeline/config.js';
import { opensshCommand, withReproduction } from '../../pipeline/reproduce.js';
import { readRunResult } from '../../report/index.js';
import { waitForSsh, type SshTarget } from '../../ssh/index.js';
import type { SshSession } from '../../ssh/session.js';
import { interactiveShell } from '../../ssh/terminal.js';

/** The words after `--`: the remote command (joined with spaces and run by the login shell, as ssh does). */
function splitCommand(args: string[]): { flags: string[]; command: string | null } {
  const at = args.indexOf('--');
  if (at < 0) return { flags: args, command: null };
  const words = args.slice(at + 1);
  if (words.length === 0)
    throw new ConfigError('nothing after --: give a command, or leave out -- for a shell');
  return { flags: args.slice(0, at), command: words.join(' ') };
}

/** Runs the command (exit status of the command) or an interactive shell on an open session. */
async function runRemote(session: SshSession, command: string | null, io: CliIo): Promise<number> {
  if (command === null) {
    return interactiveShell(
      session,
      {
        stdin: process.stdin,
        stdout: io.stdout,
        stderr: io.stderr,
        ...(io.env.TERM ? { term: io.env.TERM } : {}),
      },
      io.signal,
    );
  }
  const result = await session.exec(command, {
    onStdout: (text) => io.stdout.write(text),
    onStderr: (text) => io.stderr.write(text),
    signal: io.signal,
  });
  return result.exitCode ?? 255;
}

/** io.signal, plus SIGHUP (the terminal went away): the instance is terminated in all three cases. */
function withHangup(io: CliIo): { io: CliIo; dispose(): void } {
  const controller = new AbortController();
  const abort = (reason: unknown) => controller.abort(reason);
  const onHangup = () => abort(new Error('SIGHUP: the terminal closed'));
  if (io.signal.aborted) abort(io.signal.reason);
  io.signal.addEventListener('abort', () => abort(io.signal.reason), { once: true });
  process.on('SIGHUP', onHangup);
  return { io: { ...io, signal: controller.signal }, dispose: () => process.off('SIGHUP', onHangup) };
}

const REPRODUCE_HELP = `Usage: ovenproof reproduce (--result-json FILE | --image ID) [--provider P] [--region R]
                         [--ssh-user U] [--ttl D] [--keep] [-- COMMAND...]

Boots an instance from a failure image (the disk of a failed run's test instance, captured with
snapshot-on-failure: disk) with a new identity — new host key, machine-id and hostname — and either
runs COMMAND there and exits with its status, or opens an interactive shell (a real terminal: the
window size follows yours and Ctrl-C reaches the remote program). The instance is terminated when
the command or shell ends, on Ctrl-C/SIGTERM/SIGHUP, and by its TTL whatever happens.

Options:
  --result-json FILE  result JSON of the failed run: boots its failureImage on its provider
  --image ID          boot this image instead (any image of the provider)
  --provider P        local or ec2 (default: the result's provider, else local)
  --region R          ec2 region (default: AWS_REGION)
  --ssh-user U        login user (default: root on local, admin on ec2)
  --ttl D             the instance powers itself off after D (default 60m)
  --keep              leave the instance running (until its TTL) and print how to reach it
  --verbose           debug output

Exit codes: COMMAND's exit status (the shell's, interactively); 2 launch or SSH failure; 3 bad flags.

Examples:
  ovenproof reproduce --result-json result.json -- cat /var/tmp/hello-deb/results/junit.xml
  ovenproof reproduce --result-json result.json
  ovenproof reproduce --image img-0123456789ab --keep
`;

export const reproduceCommand: CliCommand = {
  name: 'reproduce',
  summary: "Boot a failed run's captured disk with a new identity: a shell, or one command",
  help: REPRODUCE_HELP,
  async run(args, rawIo) {
    const { flags, command } = splitCommand(args);
    const { values } = parseCommandArgs('reproduce', flags, {
      'result-json': { type: 'string' },
      image: { type: 'string' },
      provider: { type: 'string' },
      region: { type: 'string' },
      'ssh-user': { type: 'string' },
      ttl: { type: 'string' },
      keep: { type: 'boolean' },
      verbose: { type: 'boolean' },
    });
    if (values.help) {
      rawIo.stdout.write(REPRODUCE_HELP);
      return ExitCode.ok;
    }
    if (Boolean(values['result-json']) === Boolean(values.image))
      throw new ConfigError('reproduce: give exactly one of --result-json FILE and --image ID');
    let imageId = values.image ?? null;
    let providerName = values.provider ?? null;
    if (values['result-json']) {
      const path = resolve(rawIo.cwd, values['result-json']);
      const result = await readRunResult(path);
      if (!result.failureImage) {
        throw new ConfigError(
          `reproduce: ${path} has no failureImage (the run ${result.status === 'failed' ? 'had snapshot-on-failure: never or its capture failed' : `did not fail its tests (status ${result.status})`})`,
        );
      }
      if (Date.parse(result.failureImage.expiresAt) < Date.now())
        throw new ConfigError(
          `reproduce: failure image ${result.failureImage.id} expired at ${result.failureImage.expiresAt} and may have been swept`,
        );
      imageId = result.failureImage.id;
      providerName ??= result.provider;
    }
    const ttlMs = requireDuration('--ttl', values.ttl ?? '60m');
    const config = resolveConfig(
      {
        flags: {
          provider: providerName ?? 'local',
          ...(values.region ? { region: values.region } : {}),
          ...(values['ssh-user'] ? { 'ssh-user': values['ssh-user'] } : {}),
        },
      },
      { entry: 'cli', projectDir: rawIo.cwd },
    );
    const log = createStderrLogger(rawIo.stderr, { verbose: values.verbose });
    const settings = providerSettingsFor(config, rawIo.env);
    const provider = await createProvider(settings, log);
    const { io, dispose } = withHangup(rawIo);
    try {
      const outcome = await withReproduction(
        {
          provider,
          providerSettings: settings as unknown as Record<string, unknown>,
          imageId: imageId!,
          sshUser: config.sshUser,
          ttlMs,
          keep: values.keep ?? false,
          log,
          signal: io.signal,
        },
        ({ session }) => runRemote(session, command, io),
      );
      if (outcome.kept) {
        log.warn(
          `--keep: instance ${outcome.instanceId} stays up for at most ${Math.round(ttlMs / 60_000)} min. Reach it with:\n` +
            `  ${opensshCommand(outcome.kept.debugSsh)}\n` +
            `Remove it early with: ovenproof sweep --ledger ${outcome.kept.ledgerPath} --kept`,
        );
      }
      return outcome.value;
    } finally {
      dispose();
    }
  },
};

async function kept(result: { instance: { debugSsh?: DebugSsh } | null }, path: string): Promise<SshTarget> {
  const debugSsh = result.instance?.debugSsh;
  if (!debugSsh)
    throw new ConfigError(
      `ssh: ${path} names no kept instance (runs keep one with keep-instance: on-failure)`,
    );
  const read = (file: string) =>
    readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new ConfigError(
        `ssh: cannot read ${file} (${error.code ?? error.message}); was the run's work directory removed?`,
      );
    });
  const knownHost = (await read(debugSsh.knownHostsFile)).trim().split(/\s+/);
  return {
    host: debugSsh.host,
    port: debugSsh.port,
    user: debugSsh.user,
    privateKey: await read(debugSsh.privateKeyFile),
    hostKeyPublic: knownHost.slice(1, 3).join(' '),
  };
}

const SSH_HELP = `Usage: ovenproof ssh --result-json FILE [-- COMMAND...]

Connects to the instance a failed run kept (keep-instance: on-failure), pinned to the host key that
run generated, and runs COMMAND (exiting with its status) or opens an interactive shell. The instance
stays up until its TTL; remove it early with \`ovenproof sweep --ledger LEDGER --kept\` (the run prints
the exact command).

Options:
  --result-json FILE  result JSON of the run that kept the instance
  --verbose           debug output

Examples:
  ovenproof ssh --result-json result.json
  ovenproof ssh --result-json result.json -- journalctl -b --no-pager
`;

export const sshCommand: CliCommand = {
  name: 'ssh',
  summary: 'Open a shell (or run a command) on the instance a failed run kept',
  help: SSH_HELP,
  async run(args, rawIo) {
    const { flags, command } = splitCommand(args);
    const { values } = parseCommandArgs('ssh', flags, {
      'result-json': { type: 'string' },
      verbose: { type: 'boolean' },
    });
    if (values.help) {
      rawIo.stdout.write(SSH_HELP);
      return ExitCode.ok;
    }
    if (!values['result-json']) throw new ConfigError('ssh: --result-json FILE is required');
    const path = resolve(rawIo.cwd, values['result-json']);
    const target = await kept(await readRunResult(path), path);
    const log: Logger = createStderrLogger(rawIo.stderr, { verbose: values.verbose });
    log.mask(target.privateKey);
    const { io, dispose } = withHangup(rawIo);
    try {
      const session = await waitForSsh(target, {
        timeoutMs: 60_000,
        signal: io.signal,
        log,
        stage: 'launch',
      });
      try {
        return await runRemote(session, command, io);
      } finally {
        await session.close().catch(() => undefined);
      }
    } finally {
      dispose();
    }
  },
};
