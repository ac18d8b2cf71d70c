/**
 * Turns CLI flags (`--config`, `--provider`, `--set`) into the one validated Config. Without
 * `--config`, an `ovenproof.yml` in the current directory is used when present.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  parseSetFlags,
  readConfigFile,
  resolveConfig,
  type Config,
  type ConfigKey,
} from '../pipeline/config.js';

export interface ConfigFlags {
  config?: string;
  provider?: string;
  set?: string[];
}

export async function loadCliConfig(flags: ConfigFlags, cwd: string, required: ConfigKey[]): Promise<Config> {
  const explicit = flags.config ? resolve(cwd, flags.config) : null;
  const implicit = resolve(cwd, 'ovenproof.yml');
  const path = explicit ?? (existsSync(implicit) ? implicit : null);
  const file = path ? await readConfigFile(path) : undefined;
  const sets = parseSetFlags(flags.set ?? []);
  if (flags.provider !== undefined) sets.provider = flags.provider;
  return resolveConfig(
    { file, flags: sets },
    { entry: 'cli', projectDir: path ? dirname(path) : cwd, required },
  );
}

/** Shared parseArgs option specs for the commands that take a config. */
export const CONFIG_OPTIONS = {
  config: { type: 'string' },
  provider: { type: 'string' },
  set: { type: 'string', multiple: true },
} as const;
