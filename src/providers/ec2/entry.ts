/** The EC2 provider's registry entry. The provider (and the AWS SDK) is loaded only when one is created. */
import { ConfigError } from '../../common/errors.js';
import type { ProviderEntry } from '../provider.js';
import { parseEc2Settings } from './settings.js';

export const ec2ProviderEntry: ProviderEntry = {
  name: 'ec2',
  defaults: {
    // Debian's official bookworm AMIs, published by the Debian cloud team's account (`owner` is the
    // EC2 provider's owner filter; other keys would be matched as tags).
    baseImage: 'name=debian-12-amd64-*,owner=136693071363',
    sshUser: 'admin',
  },
  settingsFrom(config, env) {
    const region = config.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    if (!region) {
      throw new ConfigError(
        'region: is required for provider ec2; set the region input, or AWS_REGION (aws-actions/configure-aws-credentials sets it)',
      );
    }
    return {
      // Advanced EC2 settings that have no config key (a custom endpoint, the IMDS address, timeouts):
      // a JSON object in OVENPROOF_EC2_SETTINGS, validated with every other setting.
      ...advancedEc2Settings(env),
      region,
      ...(config.subnetId ? { subnetId: config.subnetId } : {}),
      ...(config.securityGroupId ? { securityGroupId: config.securityGroupId } : {}),
      ...(config.sshCidr ? { sshCidr: config.sshCidr } : {}),
      instanceTypes: config.instanceType,
      spot: config.spot,
      regions: config.regions,
    };
  },
  async create(settings, log) {
    const parsed = parseEc2Settings(settings);
    const { createEc2Provider } = await import('./index.js');
    return createEc2Provider({ ...parsed, log });
  },
};

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
