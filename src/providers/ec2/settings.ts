/**
 * Settings of the EC2 provider. `Ec2Settings` is plain JSON: the pipeline stores it in the ledger
 * (`providerOptions`) so that the Action's post step and `ovenproof sweep --ledger` can rebuild the
 * provider in a fresh process. Runtime-only pieces (credentials, the public-address resolver) live in
 * `Ec2ProviderOptions` and are never serialised.
 */
import { z } from 'zod';
import type { EC2ClientConfig } from '@aws-sdk/client-ec2';
import { ConfigError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';

const positive = z.number().int().positive();

export const ec2SettingsSchema = z.object({
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region such as eu-west-1'),
  /** Custom EC2 endpoint (tests: the fake endpoint on 127.0.0.1). Default: the SDK's regional endpoint. */
  endpoint: z.url().optional(),
  subnetId: z.string().startsWith('subnet-').optional(),
  /** Existing security group; without it each launch creates a temporary one (port 22 from sshCidr). */
  securityGroupId: z.string().startsWith('sg-').optional(),
  /** CIDR allowed to reach port 22; default: the runner's public address /32 detected at run time. */
  sshCidr: z
    .string()
    .regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'an IPv4 CIDR such as 203.0.113.7/32')
    .optional(),
  /** Fallback order on InsufficientInstanceCapacity / Unsupported. */
  instanceTypes: z.array(z.string().min(1)).min(1).default(['t3.small']),
  spot: z.boolean().default(false),
  /** Extra regions a kept image is copied to. */
  regions: z.array(z.string()).default([]),
  /** Port sshd listens on inside the instance. */
  sshPort: z.number().int().min(1).max(65535).default(22),
  volumeType: z.enum(['gp3', 'gp2', 'io1', 'io2', 'standard']).default('gp3'),
  /** Standard retry strategy attempts (throttling bursts need more than the SDK's 3). */
  maxAttempts: positive.default(10),
  /** Base poll interval of waiters and eventual-consistency retries. */
  pollIntervalMs: positive.default(5000),
  /** How long NotFound right after a create is treated as "not visible yet". */
  consistencyTimeoutMs: positive.default(120_000),
  /** Upper bounds of each wait (every waiter gets an explicit maxWaitTime). */
  waitTimeoutsMs: z
    .object({
      instanceRunning: positive.default(600_000),
      instanceStopped: positive.default(600_000),
      instanceTerminated: positive.default(600_000),
      imageAvailable: positive.default(3_600_000),
      snapshotCompleted: positive.default(3_600_000),
      volume: positive.default(300_000),
      securityGroupDelete: positive.default(300_000),
      deviceAppears: positive.default(60_000),
    })
    .prefault({}),
  /** Instance metadata service (IMDSv2) base URL, used to detect running on EC2 (volume bake). */
  imdsEndpoint: z.url().default('http://169.254.169.254'),
  imdsTimeoutMs: positive.default(1000),
  /** Root of /dev and /sys for device-name resolution (tests point it at a temp tree). */
  deviceRoot: z.string().default('/'),
  /** Directory of the host-wide lock that serialises device selection + AttachVolume. */
  lockDir: z.string().default('/run/lock'),
});

export type Ec2Settings = z.infer<typeof ec2SettingsSchema>;
export type Ec2SettingsInput = z.input<typeof ec2SettingsSchema>;

/** Options of `createEc2Provider`: the JSON settings plus runtime-only hooks. */
export type Ec2ProviderOptions = Ec2SettingsInput & {
  /** Static credentials or a provider; default: the SDK's default chain (env, OIDC web identity, IMDS…). */
  credentials?: EC2ClientConfig['credentials'];
  /**
   * Returns the runner's public IPv4 address (for the default sshCidr). Default: asks
   * checkip.amazonaws.com at run time. Tests replace it so that nothing leaves 127.0.0.0/8.
   */
  resolvePublicAddress?: () => Promise<string>;
  /** Where the provider logs when no run context is at hand (host detection, sweep, cleanup defaults). */
  log?: Logger;
};

/** Validates settings (from flags, config or a ledger) with errors naming the offending key. */
export function parseEc2Settings(input: unknown): Ec2Settings {
  const parsed = ec2SettingsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join('.') || '(settings)';
    throw new ConfigError(`ec2 provider setting ${key}: ${issue.message}`);
  }
  return parsed.data;
}
