/**
 * The provider registry: one line per provider. Config validation, defaults, the ledger's settings,
 * `--provider` flags and the post step all look providers up here, so adding a provider is its folder
 * (implementing `Provider` and exporting a `ProviderEntry`) plus one line below.
 */
import { ConfigError } from '../common/errors.js';
import { ec2ProviderEntry } from './ec2/entry.js';
import { localProviderEntry } from './local/entry.js';
import type { ProviderEntry } from './provider.js';

export const PROVIDERS: readonly [ProviderEntry, ...ProviderEntry[]] = [ec2ProviderEntry, localProviderEntry];

export const PROVIDER_NAMES = PROVIDERS.map((p) => p.name) as [string, ...string[]];

/** The registered provider called `name`; a ConfigError naming the choices otherwise. */
export function providerEntry(name: string, what = 'provider'): ProviderEntry {
  const entry = PROVIDERS.find((p) => p.name === name);
  if (!entry)
    throw new ConfigError(`${what}: "${name}" is not a provider (use ${PROVIDER_NAMES.join(' or ')})`);
  return entry;
}
