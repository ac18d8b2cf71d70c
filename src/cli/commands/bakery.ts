import type { CliCommand } from '../command.js';
import { ExitCode } from '../../common/errors.js';

/** The bake service has no implementation yet; say so plainly instead of pretending. */
export const bakeryCommand: CliCommand = {
  name: 'bakery',
  summary: 'Run the long-running bake service (not available in this version)',
  help: `Usage: ovenproof bakery serve [--port N] [--region R] [--peer region=url]...

The bakery (a shared HTTP bake service with a bake-key cache) is not available in this
version of ovenproof. Bake in-process instead: \`ovenproof bake\` or \`ovenproof run\`.
`,
  async run(_args, io) {
    io.stderr.write(
      'ovenproof bakery: the bake service is not available in this version; use `ovenproof bake`\n',
    );
    return ExitCode.usageError;
  },
};
