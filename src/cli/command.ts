/**
 * One CLI subcommand. src/cli/main.ts dispatches `ovenproof <name> …` to the matching command; each
 * command parses its own flags (node:util parseArgs) and returns the process exit code (0 passed, 1 tests failed, 2 pipeline error, 3 usage).
 */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
}

export interface CliCommand {
  /** `base build` is registered as name `base` and handles its own sub-verb. */
  name: string;
  summary: string;
  /** Full --help text: usage line, options, examples. */
  help: string;
  run(args: string[], io: CliIo): Promise<number>;
}
