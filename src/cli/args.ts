import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../common/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * parseArgs with the CLI's conventions: strict flags, `--help` on every command, and mistakes
 * reported as ConfigError (exit 3) naming the command.
 */
export function parseCommandArgs<O extends Options>(
  command: string,
  args: string[],
  options: O,
  allowPositionals = false,
) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
      strict: true,
    });
  } catch (error) {
    throw new ConfigError(`${command}: ${(error as Error).message} (see ovenproof ${command} --help)`);
  }
}
