/**
 * Workflow-command annotations (`::error file=…,line=…::message`), the fallback when the token cannot
 * write check runs. Escaping mirrors @actions/core's escapeData/escapeProperty exactly, so a test name
 * containing `::` or newlines cannot start a command of its own.
 */
import { EOL } from 'node:os';
import type { CheckAnnotation } from './annotations.js';
import { LIMITS, truncateBytes } from './text.js';

export function escapeCommandData(value: string): string {
  return value.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

export function escapeCommandProperty(value: string): string {
  return escapeCommandData(value).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** One `::name k=v,…::message` line (without EOL), properties in the order given, empty ones omitted. */
export function formatCommand(
  name: string,
  properties: Record<string, string | number | undefined>,
  message: string,
) {
  const props = Object.entries(properties)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined && entry[1] !== '')
    .map(([key, value]) => `${key}=${escapeCommandProperty(String(value))}`)
    .join(',');
  return `::${name}${props ? ` ${props}` : ''}::${escapeCommandData(message)}`;
}

/** Keeps a single log line readable; the full text is in the job summary. */
const COMMAND_MESSAGE_BYTES = 4096;

/**
 * Annotation commands within GitHub's per-step limit of 10 errors: up to 10 failures as they are, or 9
 * and one that says how many more there are and where to find them. Returns the lines and how many
 * failures were annotated individually.
 */
export function annotationCommands(annotations: readonly CheckAnnotation[]): {
  lines: string[];
  annotated: number;
} {
  const limit = LIMITS.commandAnnotationsPerStep;
  const shown = annotations.length <= limit ? annotations : annotations.slice(0, limit - 1);
  const lines = shown.map((a) =>
    formatCommand(
      'error',
      { title: a.title, file: a.path, line: a.start_line, endLine: a.end_line },
      truncateBytes(a.message, COMMAND_MESSAGE_BYTES, ' …'),
    ),
  );
  if (shown.length < annotations.length) {
    const rest = annotations.length - shown.length;
    lines.push(
      formatCommand(
        'error',
        { title: `${rest} more failing tests` },
        `${rest} more failures are not annotated here (GitHub shows at most ${limit} error annotations per step); see the job summary.`,
      ),
    );
  }
  return { lines, annotated: shown.length };
}

export type CommandSink = (line: string) => void;

export const stdoutCommandSink: CommandSink = (line) => {
  process.stdout.write(line + EOL);
};
