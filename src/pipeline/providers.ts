/**
 * Builds a Provider from the Config, and again from the plain settings stored in a ledger (the
 * Action's post step and `sweep --ledger` run in a fresh process with nothing else to go on).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Provider, ProviderName } from '../providers/provider.js';
import { resolveConfig, type Config } from './config.js';

export interface ProviderSettings {
  name: ProviderName;
  local?: { home: string };
  ec2?: Record<string, unknown>;
}

export function ovenproofHome(env: NodeJS.ProcessEnv): string {
  return env.OVENPROOF_HOME || join(homedir(), '.cache', 'ovenproof');
}

export function providerSettingsFor(
  config: Pick<
    Config,
    'provider' | 'region' | 'regions' | 'subnetId' | 'securityGroupId' | 'sshCidr' | 'instanceType' | 'spot'
  >,
  env: NodeJS.ProcessEnv,
): ProviderSettings {
  if (config.provider === 'local') return { name: 'local', local: { home: ovenproofHome(env) } };
  const region = config.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) {
    throw new ConfigError(
      'region: is required for provider ec2; set the region input, or AWS_REGION (aws-actions/configure-aws-credentials sets it)',
    );
  }
  return {
    name: 'ec2',
    ec2: {
      // Advanced EC2 settings that have no config key (a custom endpoint, the IMDS address, timeouts):
      // a JSON object in OVENPROOF_EC2_SETTINGS, validated by the EC2 provider like every other setting.
      ...advancedEc2Settings(env),
      region,
      ...(config.subnetId ? { subnetId: config.subnetId } : {}),
      ...(config.securityGroupId ? { securityGroupId: config.securityGroupId } : {}),
      ...(config.sshCidr ? { sshCidr: config.sshCidr } : {}),
      instanceTypes: config.instanceType,
      spot: config.spot,
      regions: config.regions,
    },
  };
}

function advancedEc2Settings(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const text = env.OVENPROOF_EC2_SETTINGS;
  if (!text) return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new ConfigError(
    'OVENPROOF_EC2_SETTINGS: expected a JSON object, e.g. {"endpoint":"http://127.0.0.1:4566"}',
  );
}

export async function createProvider(settings: ProviderSettings, log: Logger): Promise<Provider> {
  if (settings.name === 'local') {
    const { createLocalProvider } = await import('../providers/local/index.js');
    return createLocalProvider({ home: settings.local?.home, log });
  }
  const { createEc2Provider } = await import('../providers/ec2/index.js');
  return createEc2Provider({ ...(settings.ec2 as { region: string }), log });
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
