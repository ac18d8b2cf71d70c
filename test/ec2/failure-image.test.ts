import { afterEach, describe, expect, it } from 'vitest';
import { harness, launchSpec, REGION, type Harness } from './helpers.js';
import { captureFailureSnapshot } from '../../src/pipeline/failure-snapshot.js';
import { resolveConfig } from '../../src/pipeline/config.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const DAY = 86_400_000;

function tagsOf(params: Record<string, string>, spec: number): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    const m = new RegExp(`^TagSpecification\\.${spec}\\.Tag\\.(\\d+)\\.Key$`).exec(k);
    if (m) tags[v] = params[`TagSpecification.${spec}.Tag.${m[1]}.Value`] ?? '';
  }
  return tags;
}

describe('ec2 failure image through the real SDK', () => {
  it('CreateImage with NoReboot, failure tags and its own expiry, kept in the ledger; sweep retires it after expiry', async () => {
    h = await harness();
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    const instance = await h.provider.launch(h.ctx, launchSpec(base));
    const expiresAt = new Date(Date.now() + 3 * DAY);
    const image = await h.provider.captureFailureImage(h.ctx, instance.id, {
      commit: 'c'.repeat(40),
      failingTests: ['calc adds', 'calc divides by zero'],
      expiresAt,
    });

    const create = h.ec2.requests.filter((r) => r.action === 'CreateImage' && !r.dryRun);
    expect(create).toHaveLength(1);
    const p = create[0]!.params;
    expect(p.InstanceId).toBe(instance.id);
    expect(p.NoReboot).toBe('true');
    expect([p['TagSpecification.1.ResourceType'], p['TagSpecification.2.ResourceType']].sort()).toEqual([
      'image',
      'snapshot',
    ]);
    const expiry = expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
    for (const spec of [1, 2]) {
      expect(tagsOf(p, spec)).toMatchObject({
        'ovenproof:failure-of': h.ctx.runId,
        'ovenproof:commit': 'c'.repeat(40),
        'ovenproof:failed-tests': 'calc adds, calc divides by zero',
        'ovenproof:expires-at': expiry,
        'ovenproof:run-id': h.ctx.runId,
      });
    }
    expect(image.tags['ovenproof:failure-of']).toBe(h.ctx.runId);
    const entry = h.ledger.entries().find((e) => e.kind === 'image' && e.id === image.id);
    expect(entry?.state).toBe('kept');

    // The instance is untouched by the capture and terminates as usual; then only the image (and its
    // snapshot) is left, until its expiry.
    await h.provider.terminate(h.ctx, instance.id);
    const live = () =>
      h!.ec2
        .live({ ovenproofOnly: true })
        .map((r) => r.kind)
        .sort();
    expect(live()).toEqual(['image', 'snapshot']);
    expect((await h.provider.sweep({ dryRun: false }, h.log)).filter((r) => r.deleted)).toEqual([]);
    h.ec2.advanceClock(3 * DAY + 60_000);
    const swept = await h.provider.sweep({ dryRun: false }, h.log);
    expect(swept.filter((r) => r.deleted).map((r) => r.id)).toContain(image.id);
    expect(live()).toEqual([]);
  });

  it('an injected snapshot failure throws, deletes the failed image and its snapshot, and leaves the instance to teardown', async () => {
    h = await harness();
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    const instance = await h.provider.launch(h.ctx, launchSpec(base));
    h.ec2.inject({ type: 'image-fails', pendingMs: 50 });
    await expect(
      h.provider.captureFailureImage(h.ctx, instance.id, {
        commit: null,
        failingTests: ['t'],
        expiresAt: new Date(Date.now() + DAY),
      }),
    ).rejects.toThrow(/snapshot copy error \(injected\)|failed/);
    const images = h.ledger.entries().filter((e) => e.kind === 'image');
    expect(images.map((e) => e.state)).toEqual(['deleted']);
    expect(
      h.ec2
        .live({ ovenproofOnly: true })
        .map((r) => r.kind)
        .sort(),
    ).toEqual(['instance', 'security-group', 'volume']);
    await h.provider.terminate(h.ctx, instance.id);
    expect(h.ec2.live({ ovenproofOnly: true })).toEqual([]);
  });

  it("the pipeline's snapshot step turns an injected snapshot failure into a warning; teardown then leaves nothing", async () => {
    h = await harness();
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    const instance = await h.provider.launch(h.ctx, launchSpec(base));
    const config = resolveConfig(
      { flags: { provider: 'ec2', region: REGION, 'failure-snapshot-ttl': '12h' } },
      { entry: 'cli', projectDir: process.cwd() },
    );
    const tests = {
      total: 1,
      passed: 0,
      failed: 1,
      skipped: 0,
      failures: [{ name: 'adds', suite: 's', file: null, line: null, message: '', details: '' }],
    };
    const deps = { config, provider: h.provider, log: h.log, commit: 'd'.repeat(40) };
    let synced = 0;
    const sync = async () => void (synced += 1);

    h.ec2.inject({ type: 'image-fails', pendingMs: 50 });
    expect(await captureFailureSnapshot(deps, h.ctx, instance.id, tests, sync)).toBeNull();
    expect(synced).toBe(1);
    expect(h.log.lines.join('\n')).toMatch(/warn: snapshot-on-failure: capturing instance i-\w+ failed/);

    // Without a fault the same step captures, with the configured expiry.
    const record = await captureFailureSnapshot(deps, h.ctx, instance.id, tests, sync);
    expect(record?.id).toMatch(/^ami-/);
    const hours = (Date.parse(record!.expiresAt) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(11.9);
    expect(hours).toBeLessThanOrEqual(12);

    await h.provider.terminate(h.ctx, instance.id);
    expect(
      h.ec2
        .live({ ovenproofOnly: true })
        .map((r) => r.kind)
        .sort(),
    ).toEqual(['image', 'snapshot']);
  });
});
