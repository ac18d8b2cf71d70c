/**
 * Security groups: the configured one, or a temporary group per launch that lets SSH in from
 * `sshCidr` only (default: the runner's public address). A temporary group is journaled under its
 * unique name before it exists and deleted once its instance has terminated.
 */
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeSubnetsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { RunContext } from '../provider.js';
import { call, callUnlessGone, errorCode, isClientError, retryNotFound, retryWhile } from './aws.js';
import type { Ec2Core } from './core.js';
import { runTags, tagSpecs } from './tags.js';

export interface GroupChoice {
  /** Ledger key; '' for the configured group. */
  key: string;
  groupId: string;
  /** True when this launch created the group (and must delete it). */
  created: boolean;
}

/** The configured group, or a temporary one allowing the SSH port from sshCidr only. */
export async function securityGroupFor(
  core: Ec2Core,
  ctx: RunContext,
  purpose: string,
): Promise<GroupChoice> {
  const { settings } = core;
  if (settings.securityGroupId) return { key: '', groupId: settings.securityGroupId, created: false };
  const client = core.client();
  const cidr = settings.sshCidr ?? `${await core.resolvePublicAddress()}/32`;
  let vpcId: string | undefined;
  if (settings.subnetId) {
    const subnets = await call(
      'DescribeSubnets',
      () => client.send(new DescribeSubnetsCommand({ SubnetIds: [settings.subnetId!] })),
      settings.subnetId,
    );
    vpcId = subnets.Subnets?.[0]?.VpcId;
  }
  const groupName = `ovenproof-${core.token(ctx, `sg-${purpose}`)}`.slice(0, 255);
  const key = `security-group:${groupName}`;
  await ctx.journal.intend({
    key,
    provider: 'ec2',
    kind: 'security-group',
    region: settings.region,
    data: { groupName },
  });
  const res = await call(
    'CreateSecurityGroup',
    () =>
      client.send(
        new CreateSecurityGroupCommand({
          GroupName: groupName,
          Description: `ovenproof ${purpose} ${ctx.runId}: SSH from ${cidr}`,
          ...(vpcId ? { VpcId: vpcId } : {}),
          TagSpecifications: tagSpecs(['security-group'], runTags(ctx, key)),
        }),
      ),
    groupName,
  ).catch(async (error: unknown) => {
    // A rejected request created nothing: its entry is closed. After a server error or a lost answer
    // it stays open, so that cleanup looks the group up by its name.
    if (isClientError(error)) await ctx.journal.deleted(key);
    throw error;
  });
  const groupId = res.GroupId!;
  await core.remember(ctx, key, groupId);
  const group = { key, groupId, created: true };
  try {
    await retryNotFound(
      'AuthorizeSecurityGroupIngress',
      () =>
        client.send(
          new AuthorizeSecurityGroupIngressCommand({
            GroupId: groupId,
            IpPermissions: [
              {
                IpProtocol: 'tcp',
                FromPort: settings.sshPort,
                ToPort: settings.sshPort,
                IpRanges: [{ CidrIp: cidr, Description: 'ovenproof SSH' }],
              },
            ],
          }),
        ),
      core.consistency(ctx.signal, groupId),
    );
  } catch (error) {
    await dropGroup(core, ctx, group).catch((dropError: unknown) =>
      ctx.log.warn(
        `could not delete security group ${groupId} after the failed authorization: ${errorMessage(dropError)}`,
      ),
    );
    throw error;
  }
  return group;
}

/** Deletes a group this launch created and closes its ledger entry; the configured group stays. */
export async function dropGroup(core: Ec2Core, ctx: RunContext, group: GroupChoice): Promise<void> {
  if (!group.created) return;
  await deleteGroup(core, core.client(), group.groupId, ctx.log);
  await core.forget(ctx, group.groupId);
}

/** DeleteSecurityGroup, retried while a just-terminated instance still holds it (DependencyViolation). */
export async function deleteGroup(
  core: Ec2Core,
  client: EC2Client,
  groupId: string,
  log: Logger,
): Promise<void> {
  await retryWhile(
    'DeleteSecurityGroup',
    () =>
      callUnlessGone(
        'DeleteSecurityGroup',
        () => client.send(new DeleteSecurityGroupCommand({ GroupId: groupId })),
        groupId,
      ),
    (error) => errorCode(error) === 'DependencyViolation',
    {
      timeoutMs: core.settings.waitTimeoutsMs.securityGroupDelete,
      baseMs: core.consistency().baseMs,
      maxDelayMs: 15_000,
      resource: groupId,
    },
  );
  log.debug(`deleted security group ${groupId}`);
}
