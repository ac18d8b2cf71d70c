/**
 * Error classes that carry the process exit code (0 passed, 1 tests failed, 2 pipeline error, 3 usage or
 * config mistake) so that the Action and the CLI map any failure
 * the same way: 3 for usage/config mistakes, 2 for pipeline failures (build, bake, launch, SSH).
 */
export const ExitCode = {
  ok: 0,
  testsFailed: 1,
  pipelineError: 2,
  usageError: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A mistake in the user's configuration, flags or input files. */
export class ConfigError extends Error {
  readonly exitCode = ExitCode.usageError;
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** A failure of one pipeline stage; `stage` names it in the result JSON and the check run. */
export class PipelineError extends Error {
  readonly exitCode = ExitCode.pipelineError;
  constructor(
    readonly stage: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PipelineError';
  }
}

/** The host key offered by a server is not the one ovenproof generated: never retried. */
export class HostKeyMismatchError extends Error {
  readonly exitCode = ExitCode.pipelineError;
  constructor(message: string) {
    super(message);
    this.name = 'HostKeyMismatchError';
  }
}

/** Raised inside steps when the run was cancelled (SIGINT/SIGTERM) or timed out. */
export class CancelledError extends Error {
  constructor(
    message: string,
    readonly reason: 'cancelled' | 'timed_out' = 'cancelled',
  ) {
    super(message);
    this.name = 'CancelledError';
  }
}

/**
 * A failure in words for a message: its own message, or, when it has none (`new Error()`, Node's
 * AggregateError of a failed connect), its class, code, the errors it aggregates and its cause, so a
 * message never ends in an empty cause or a bare "Error".
 */
export function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) {
    const message = (error as { message?: unknown } | null)?.message;
    if (typeof message === 'string' && message.trim()) return message;
    return error === undefined || error === null ? `no error details (${String(error)})` : String(error);
  }
  if (error.message.trim()) return error.message;
  const kind = [error.name, error.constructor.name].find((name) => name && name !== 'Error');
  const code = (error as { code?: unknown }).code;
  const parts = [
    `${kind ?? 'an error'} without a message${typeof code === 'string' && code ? ` (${code})` : ''}`,
  ];
  if (error instanceof AggregateError && error.errors.length > 0)
    parts.push([...new Set(error.errors.map(errorMessage))].join('; '));
  if (error.cause !== undefined) parts.push(`cause: ${errorMessage(error.cause)}`);
  return parts.join(': ');
}

export function exitCodeOf(error: unknown): ExitCode {
  if (error && typeof error === 'object' && 'exitCode' in error) {
    const code = (error as { exitCode: unknown }).exitCode;
    if (code === ExitCode.usageError || code === ExitCode.pipelineError) return code;
  }
  return ExitCode.pipelineError;
}
