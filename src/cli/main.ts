#!/usr/bin/env node
/**
 * `ovenproof` command line: dispatches to one subcommand and maps any error to the exit codes of
 * 0 passed, 1 tests failed, 2 pipeline error, 3 usage. A thin shell: the work happens in the pipeline and the layers below it.
 */
import { readFileSync } from 'node:fs';
import type { CliCommand, CliIo } from './command.js';
import { runCommand, bakeCommand } from './commands/run.js';
import { sweepCommand } from './commands/sweep.js';
import { bakeryCommand } from './commands/bakery.js';
import { resultsCommand } from './commands/results.js';
import { publishCommand } from './commands/publish.js';
import { baseCommand } from './commands/base.js';
import { imagesCommand } from './commands/images.js';
import { reproduceCommand, sshCommand } from './commands/reproduce.js';
import { ExitCode, errorMessage, exitCodeOf } from '../common/errors.js';
import { abortOnSignals } from '../pipeline/signals.js';
import { createStderrLogger } from './logger.js';

const COMMANDS: CliCommand[] = [
  runCommand,
  bakeCommand,
  imagesCommand,
  baseCommand,
  resultsCommand,
  sweepCommand,
  publishCommand,
  reproduceCommand,
  sshCommand,
  bakeryCommand,
];

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return `ovenproof: turn a commit into a tested machine image.

Usage: ovenproof <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}

Run \`ovenproof <command> --help\` for a command's options and examples.
Exit codes: 0 tests passed / success, 1 tests failed, 2 pipeline error, 3 usage or config error.
`;
}

async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    (name ? io.stdout : io.stderr).write(overview());
    return name ? ExitCode.ok : ExitCode.usageError;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`${version()}\n`);
    return ExitCode.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(
      `ovenproof: unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(', ')}\n`,
    );
    return ExitCode.usageError;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    io.stderr.write(`ovenproof ${name}: ${errorMessage(error)}\n`);
    return exitCodeOf(error);
  }
}

const signals = abortOnSignals(createStderrLogger(process.stderr));
const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: signals.signal,
});
signals.dispose();
process.exitCode = code;
// Exit even if a library left a handle open (a socket in keepalive, a timer): the work is done and
// every cleanup has run. The timer is unref'd, so a clean exit is not delayed by it.
setTimeout(() => process.exit(code), 2_000).unref();
