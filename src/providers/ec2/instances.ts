/**
 * Test instances and bake builders: launch with the run's identity in user data, a ClientToken per
 * attempt and the fallback over instance types on capacity errors; stop (instance bake), terminate
 * with the temporary security group, console output.
 */
import {
  DescribeInstancesCommand,
  GetConsoleOutputCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  waitUntilInstanceStopped,
  waitUntilInstanceTerminated,
  type EC2Client,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { InstanceInfo, LaunchSpec, RunContext } from '../provider.js';
import {
  CAPACITY_CODES,
  Ec2Error,
  call,
  describeFailure,
  errorCode,
  isClientError,
  probePermission,
  retryNotFound,
  waitFor,
  waiterConfig,
} from './aws.js';
import type { Ec2Core } from './core.js';
import { waitRunning } from './instance-state.js';
import { deleteGroup, dropGroup, securityGroupFor, type GroupChoice } from './security-groups.js';
import { TAG, runTags, tagSpecs } from './tags.js';
import { buildUserData } from './user-data.js';

/** The RunInstances request of one attempt: identity in user data, dead-man switch, tags. */
function runInput(
  core: Ec2Core,
  ctx: RunContext,
  spec: LaunchSpec,
  attempt: { type: string; token: string; key: string; groupId: string; spot: boolean },
): RunInstancesCommandInput {
  const userData = Buffer.from(
    buildUserData({
      identity: spec.identity,
      ttlMs: spec.ttlMs,
      sshUser: spec.sshUser,
      launchRef: attempt.token,
    }),
  ).toString('base64');
  // The user data carries the host private key: it must never reach a log.
  ctx.log.mask(userData);
  const tags = runTags(ctx, attempt.key, {
    Name: `ovenproof-${spec.purpose}-${ctx.runId}`.slice(0, 256),
    [TAG.purpose]: spec.purpose,
  });
  return {
    ImageId: spec.imageId,
    InstanceType: attempt.type as RunInstancesCommandInput['InstanceType'],
    MinCount: 1,
    MaxCount: 1,
    // Same token on every SDK retry of this call: EC2 returns the first launch instead of a duplicate.
    ClientToken: attempt.token,
    UserData: userData,
    InstanceInitiatedShutdownBehavior: 'terminate',
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
    SecurityGroupIds: [attempt.groupId],
    ...(core.settings.subnetId ? { SubnetId: core.settings.subnetId } : {}),
    ...(attempt.spot
      ? {
          InstanceMarketOptions: {
            MarketType: 'spot',
            SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
          },
        }
      : {}),
    TagSpecifications: tagSpecs(['instance', 'volume', 'network-interface'], tags),
  };
}

/**
 * RunInstances over the instance types in order; the next type only after a capacity error. Returns
 * the new instance's id, or null when no type had capacity (the reasons pushed to `failures`).
 */
async function runFirstWithCapacity(
  core: Ec2Core,
  ctx: RunContext,
  spec: LaunchSpec,
  group: GroupChoice,
  failures: string[],
): Promise<string | null> {
  const client = core.client();
  const types = spec.instanceTypes?.length ? spec.instanceTypes : core.settings.instanceTypes;
  const spot = spec.spot ?? core.settings.spot;
  for (const type of types) {
    const token = core.token(ctx, spec.purpose);
    const key = `instance:${token}`;
    const input = runInput(core, ctx, spec, { type, token, key, groupId: group.groupId, spot });
    await ctx.journal.intend({
      key,
      provider: 'ec2',
      kind: 'instance',
      region: core.settings.region,
      data: { clientToken: token },
    });
    try {
      const res = await client.send(new RunInstancesCommand(input));
      const instanceId = res.Instances?.[0]?.InstanceId;
      if (!instanceId) throw new Error(`RunInstances answered without an instance id (${type})`);
      await core.remember(ctx, key, instanceId, { instanceType: type });
      return instanceId;
    } catch (error) {
      const code = errorCode(error);
      if (CAPACITY_CODES.has(code)) {
        // Nothing was launched for this token: close the ledger entry and try the next type.
        await ctx.journal.deleted(key);
        failures.push(`${type}: ${code}`);
        ctx.log.warn(
          `no ${spot ? 'spot ' : ''}capacity for ${type} (${code}); trying the next instance type`,
        );
        continue;
      }
      // A rejected request (permissions, validation) launched nothing; after a server error or a lost
      // answer the entry stays open so that cleanup looks the instance up by its ClientToken or tag.
      if (isClientError(error)) await ctx.journal.deleted(key);
      throw await failLaunch(core, ctx, null, group, describeFailure('RunInstances', error, spec.imageId));
    }
  }
  return null;
}

export async function launch(core: Ec2Core, ctx: RunContext, spec: LaunchSpec): Promise<InstanceInfo> {
  ctx.log.mask(spec.identity.hostKeyPrivate);
  const group = await securityGroupFor(core, ctx, spec.purpose);
  const failures: string[] = [];
  const instanceId = await runFirstWithCapacity(core, ctx, spec, group, failures);
  if (!instanceId) {
    await dropGroup(core, ctx, group);
    throw new Ec2Error(
      'RunInstances',
      'InsufficientInstanceCapacity',
      `no capacity for any instance type (${failures.join('; ')}); add more types to instance-type or try another subnet`,
    );
  }
  if (group.created) core.instanceGroups.set(instanceId, { key: group.key, groupId: group.groupId });
  try {
    const instance = await waitRunning(core, core.client(), instanceId, ctx.signal);
    const host = instance.PublicIpAddress ?? instance.PrivateIpAddress;
    if (!host) throw new Error(`instance ${instanceId} is running but has no IP address`);
    ctx.log.info(`instance ${instanceId} (${instance.InstanceType}) running at ${host}`);
    return {
      id: instanceId,
      host,
      port: core.settings.sshPort,
      user: spec.sshUser,
      hostKeyPublic: spec.identity.hostKeyPublic,
    };
  } catch (error) {
    throw await failLaunch(
      core,
      ctx,
      instanceId,
      group,
      describeFailure('DescribeInstances', error, instanceId),
    );
  }
}

/** On a failed launch: clean up what this launch created (kitchen-ec2 style), then report the cause. */
async function failLaunch(
  core: Ec2Core,
  ctx: RunContext,
  instanceId: string | null,
  group: GroupChoice,
  cause: Ec2Error,
): Promise<Error> {
  try {
    if (instanceId) await terminate(core, ctx, instanceId);
    else await dropGroup(core, ctx, group);
  } catch (cleanupError) {
    ctx.log.warn(
      `cleanup after the failed launch failed (the ledger still lists it): ${errorMessage(cleanupError)}`,
    );
  }
  return cause;
}

export async function stopInstance(core: Ec2Core, ctx: RunContext, id: string): Promise<void> {
  const client = core.client();
  await call('StopInstances', () => client.send(new StopInstancesCommand({ InstanceIds: [id] })), id);
  await probePermission(
    await client.config.region(),
    'DescribeInstances',
    () => client.send(new DescribeInstancesCommand({ InstanceIds: [id], DryRun: true })),
    core.probed,
  );
  const max = core.settings.waitTimeoutsMs.instanceStopped;
  await waitFor(`instance ${id} to stop`, 'DescribeInstances', max, () =>
    waitUntilInstanceStopped(waiterConfig(client, core.settings, max, ctx.signal), { InstanceIds: [id] }),
  );
}

/** Terminates the instance, waits until it is gone, then deletes its temporary security group. */
export async function terminate(core: Ec2Core, ctx: RunContext, id: string): Promise<void> {
  await terminateAndWait(core, core.client(), [id], ctx.log, ctx.signal);
  await core.forget(ctx, id);
  const group = core.instanceGroups.get(id);
  if (group) {
    await deleteGroup(core, core.client(), group.groupId, ctx.log);
    await core.forget(ctx, group.groupId);
    core.instanceGroups.delete(id);
  }
}

export async function terminateAndWait(
  core: Ec2Core,
  client: EC2Client,
  ids: string[],
  log: Logger,
  signal?: AbortSignal,
): Promise<void> {
  if (ids.length === 0) return;
  const what = ids.join(', ');
  try {
    await retryNotFound(
      'TerminateInstances',
      () => client.send(new TerminateInstancesCommand({ InstanceIds: ids })),
      core.consistency(signal, what),
    );
  } catch (error) {
    // NotFound long after the launch means the instance is gone (or never existed).
    if (!(error instanceof Ec2Error && error.code.endsWith('NotFound'))) throw error;
    log.debug(`instances ${what} not found: already gone`);
    return;
  }
  await probePermission(
    await client.config.region(),
    'DescribeInstances',
    () => client.send(new DescribeInstancesCommand({ InstanceIds: ids, DryRun: true })),
    core.probed,
  );
  const max = core.settings.waitTimeoutsMs.instanceTerminated;
  await waitFor(`instance(s) ${what} to terminate`, 'DescribeInstances', max, () =>
    waitUntilInstanceTerminated(waiterConfig(client, core.settings, max, signal), { InstanceIds: ids }),
  );
  log.info(`terminated ${what}`);
}

export async function consoleOutput(core: Ec2Core, id: string): Promise<string> {
  const res = await call(
    'GetConsoleOutput',
    () => core.client().send(new GetConsoleOutputCommand({ InstanceId: id, Latest: true })),
    id,
  );
  return res.Output ? Buffer.from(res.Output, 'base64').toString('utf8') : '';
}
