/**
 * What lower layers (baker, providers, ssh) need to tell the user something. The Action wires it to
 * @actions/core (log groups, masking); the CLI to stderr. Lower layers never print directly.
 */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
  /** Registers a secret so that no sink prints it (core.setSecret in Actions). */
  mask(secret: string): void;
}

/** A sub-stage label and optional completion fraction (0..1) inside the current stage, e.g. "Mounting volume". */
export interface Progress {
  label: string;
  fraction?: number;
}
export type ProgressSink = (progress: Progress) => void;

export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  debug: () => undefined,
  mask: () => undefined,
};

/**
 * The pieces of a secret that a log masker must register: log sinks (the Actions runner, the CLI)
 * match line by line, so a multi-line private key is masked one non-trivial line at a time.
 */
export function secretLines(secret: string): string[] {
  return secret
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length >= 4);
}
