/**
 * Builds a Provider from the Config, and again from the plain settings stored in a ledger (the
 * Action's post step and `sweep --ledger` run in a fresh process with nothing else to go on). Which
 * providers exist and how each is built is the provider registry's business.
 */
import type { Logger } from '../common/log.js';
import type { Provider, ProviderConfig, ProviderName } from '../providers/provider.js';
import { providerEntry } from '../providers/registry.js';
import { resolveConfig, type Config } from './config.js';

/** What the ledger stores: the provider's name and, under that name, its settings. */
export interface ProviderSettings {
  name: ProviderName;
  [provider: string]: unknown;
}

export function providerSettingsFor(
  config: ProviderConfig & Pick<Config, 'provider'>,
  env: NodeJS.ProcessEnv,
): ProviderSettings {
  const entry = providerEntry(config.provider);
  return { name: entry.name, [entry.name]: entry.settingsFrom(config, env) };
}

export async function createProvider(settings: ProviderSettings, log: Logger): Promise<Provider> {
  const entry = providerEntry(settings.name);
  const own = settings[entry.name];
  return entry.create(own && typeof own === 'object' ? (own as Record<string, unknown>) : {}, log);
}

/**
 * A provider from just its name (and an optional region), with every other setting at its default:
 * for commands that take no config file (`images`, `sweep`). An unknown name is a ConfigError.
 */
export function providerForName(
  name: string,
  env: NodeJS.ProcessEnv,
  log: Logger,
  region: string | null = null,
): Promise<Provider> {
  const config = resolveConfig(
    { flags: { provider: name, ...(region ? { region } : {}) } },
    { entry: 'cli', projectDir: process.cwd() },
  );
  return createProvider(providerSettingsFor(config, env), log);
}
