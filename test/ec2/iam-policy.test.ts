/**
 * docs/aws.md must list exactly the EC2 actions ovenproof calls: every command class the provider
 * sends plus the Describe* actions its waiters poll, and everything the endpoint saw in a full
 * launch / bake / copy / sweep scenario must be in the policy.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EC2_TAGS } from '../../src/providers/ec2/index.js';
import { harness, launchSpec, REGION } from './helpers.js';

const root = join(import.meta.dirname, '../..');
const WAITER_ACTION: Record<string, string> = {
  waitUntilImageAvailable: 'DescribeImages',
  waitUntilInstanceRunning: 'DescribeInstances',
  waitUntilInstanceStopped: 'DescribeInstances',
  waitUntilInstanceTerminated: 'DescribeInstances',
  waitUntilSnapshotCompleted: 'DescribeSnapshots',
  waitUntilVolumeAvailable: 'DescribeVolumes',
  waitUntilVolumeInUse: 'DescribeVolumes',
};

async function policyActions(): Promise<Set<string>> {
  const doc = await readFile(join(root, 'docs/aws.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## IAM policy'));
  const json = /```json\n([\s\S]*?)```/.exec(section)?.[1];
  if (!json) throw new Error('docs/aws.md has no IAM policy JSON block');
  const policy = JSON.parse(json) as { Statement: Array<{ Action: string[] }> };
  return new Set(policy.Statement.flatMap((s) => s.Action).map((a) => a.replace(/^ec2:/, '')));
}

async function codeActions(): Promise<Set<string>> {
  const dir = join(root, 'src/providers/ec2');
  const out = new Set<string>();
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.ts'))) {
    const text = await readFile(join(dir, file), 'utf8');
    for (const m of text.matchAll(/new (\w+)Command\(/g)) out.add(m[1]!);
    for (const m of text.matchAll(/\b(waitUntil\w+)\(/g)) {
      const action = WAITER_ACTION[m[1]!];
      if (!action) throw new Error(`unknown waiter ${m[1]} in ${file}: add it to WAITER_ACTION`);
      out.add(action);
    }
  }
  return out;
}

describe('docs/aws.md IAM policy', () => {
  it('lists exactly the EC2 actions the provider code sends', async () => {
    expect([...(await policyActions())].sort()).toEqual([...(await codeActions())].sort());
  });

  it('covers every action the endpoint received in a launch, bake, copy and sweep scenario', async () => {
    const h = await harness({ provider: { regions: ['us-east-1'] } });
    try {
      const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
      const builder = await h.provider.launch(h.ctx, launchSpec(base, { purpose: 'builder' }));
      await h.provider.stopInstance(h.ctx, builder.id);
      const image = await h.provider.createImageFromInstance(h.ctx, builder.id, {
        name: 'widget',
        os: 'debian-12',
        arch: 'x86_64',
        parent: base,
        packages: { jq: '1.6' },
        bakeKey: 'b'.repeat(64),
        tags: {},
      });
      await h.provider.consoleOutput(builder.id);
      await h.provider.terminate(h.ctx, builder.id);
      await h.provider.tagImage(h.ctx, image.id, { [EC2_TAGS.kept]: 'true' });
      await h.provider.copyImage(h.ctx, image.id);
      await h.provider.sweep({ dryRun: false }, h.log);
      await h.provider.deregisterImage(h.ctx, image.id);
      const policy = await policyActions();
      const sent = new Set(h.ec2.requests.map((r) => r.action));
      expect([...sent].filter((a) => !policy.has(a))).toEqual([]);
    } finally {
      await h.close();
    }
  });
});
