/**
 * Reads the Action's inputs into the one validated Config. action.yml declares no defaults, so an
 * input the user did not set arrives empty and is treated as unset; ovenproof.yml at the
 * workspace root fills what inputs leave open.
 */
import * as core from '@actions/core';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  CONFIG_KEY_NAMES,
  readConfigFile,
  resolveConfig,
  type Config,
  type ConfigKey,
} from '../pipeline/config.js';

export async function readActionConfig(workspace: string, required: ConfigKey[]): Promise<Config> {
  const inputs: Record<string, string | undefined> = {};
  for (const key of CONFIG_KEY_NAMES) {
    const value = core.getInput(key);
    if (value !== '') inputs[key] = value;
  }
  // Mask secrets before anything can echo them (a config error quoting a value, for instance).
  for (const secret of [inputs['github-token'], inputs['baker-token']]) if (secret) core.setSecret(secret);
  const path = join(workspace, 'ovenproof.yml');
  const file = existsSync(path) ? await readConfigFile(path) : undefined;
  const config = resolveConfig({ inputs, file }, { entry: 'action', projectDir: workspace, required });
  // A token can also come from ovenproof.yml (a mistake, but it must not reach the log either).
  for (const secret of [config.githubToken, config.bakerToken]) if (secret) core.setSecret(secret);
  return config;
}
