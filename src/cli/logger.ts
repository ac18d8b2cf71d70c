import { secretLines, type Logger } from '../common/log.js';

/**
 * The CLI's Logger: plain lines on stderr (stdout is reserved for --json output), with every
 * registered secret replaced by *** before anything is written.
 */
export function createStderrLogger(
  stderr: NodeJS.WritableStream,
  options: { verbose?: boolean } = {},
): Logger {
  const secrets = new Set<string>();
  const scrub = (text: string) => {
    let out = text;
    for (const secret of secrets) out = out.split(secret).join('***');
    return out;
  };
  const write = (prefix: string, message: string) => stderr.write(`${prefix}${scrub(message)}\n`);
  return {
    info: (message) => write('', message),
    warn: (message) => write('warning: ', message),
    debug: (message) => {
      if (options.verbose) write('debug: ', message);
    },
    mask: (secret) => {
      for (const line of secretLines(secret)) secrets.add(line);
    },
  };
}
