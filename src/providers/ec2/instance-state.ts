/**
 * Reading an instance's state: one DescribeInstances, the wait until it runs (which stops at once,
 * with EC2's state reason, when the instance can no longer get there), and why an instance has ended.
 */
import { DescribeInstancesCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { formatDuration } from '../../common/duration.js';
import { Ec2Error, callUnlessGone, probePermission, retryNotFound, sleep } from './aws.js';
import type { Ec2Core } from './core.js';

/** The instance as EC2 describes it, or null when EC2 does not know it. */
export async function describeInstance(client: EC2Client, id: string): Promise<Instance | null> {
  const res = await callUnlessGone(
    'DescribeInstances',
    () => client.send(new DescribeInstancesCommand({ InstanceIds: [id] })),
    id,
  );
  return res?.Reservations?.[0]?.Instances?.[0] ?? null;
}

/** EC2's reason for the instance's last state change (`Client.UserInitiatedShutdown: …`), or ''. */
function reasonOf(instance: Instance): string {
  return instance.StateReason?.Message ?? instance.StateTransitionReason ?? '';
}

/** `stopped (Client.UserInitiatedShutdown: User initiated shutdown)`: a state with EC2's reason. */
export function stateWithReason(instance: Instance): string {
  const reason = reasonOf(instance);
  return `${instance.State?.Name ?? 'unknown'}${reason ? ` (${reason})` : ''}`;
}

/**
 * Why the instance can no longer answer — it left `pending`/`running` (stopping, stopped,
 * shutting-down, terminated) or EC2 no longer knows it — or null while it may still.
 */
export async function whyInstanceEnded(core: Ec2Core, id: string): Promise<string | null> {
  const instance = await describeInstance(core.client(), id);
  if (!instance) return `instance ${id} no longer exists`;
  const state = instance.State?.Name;
  if (state === 'pending' || state === 'running') return null;
  return `instance ${id} is ${stateWithReason(instance)}`;
}

/**
 * Polls until the instance is `running` and returns it. Fails at once when it reaches any other state
 * than `pending` (a spot interruption, a failed boot volume, a shutdown), naming EC2's state reason, and
 * after `waitTimeoutsMs.instanceRunning` otherwise.
 */
export async function waitRunning(
  core: Ec2Core,
  client: EC2Client,
  id: string,
  signal?: AbortSignal,
): Promise<Instance> {
  await probePermission(
    await client.config.region(),
    'DescribeInstances',
    () => client.send(new DescribeInstancesCommand({ InstanceIds: [id], DryRun: true })),
    core.probed,
  );
  // Eventual consistency: the new id may be unknown to DescribeInstances for a while.
  await retryNotFound(
    'DescribeInstances',
    () => client.send(new DescribeInstancesCommand({ InstanceIds: [id] })),
    core.consistency(signal, id),
  );
  const max = core.settings.waitTimeoutsMs.instanceRunning;
  const deadline = Date.now() + max;
  let delay = core.settings.pollIntervalMs;
  for (;;) {
    const instance = await describeInstance(client, id);
    const state = instance?.State?.Name;
    if (instance && state === 'running') return instance;
    if (!instance || state !== 'pending') {
      throw new Ec2Error(
        'DescribeInstances',
        'InstanceNotRunning',
        `waiting for instance ${id} to run (ec2:DescribeInstances) failed: it left pending (${instance ? `state ${instance.State?.Name}${reasonOf(instance) ? `: ${reasonOf(instance)}` : ''}` : 'EC2 no longer knows it'})`,
        { resource: id },
      );
    }
    if (Date.now() + delay > deadline) {
      throw new Ec2Error(
        'DescribeInstances',
        'WaiterTimeout',
        `waiting for instance ${id} to run (ec2:DescribeInstances) failed: still not there after ${formatDuration(max)}`,
        { resource: id },
      );
    }
    await sleep(delay, signal);
    delay = Math.min(delay * 2, Math.max(core.settings.pollIntervalMs, 15_000));
  }
}
