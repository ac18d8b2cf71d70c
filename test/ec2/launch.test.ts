import { afterEach, describe, expect, it } from 'vitest';
import { parseUserData } from '../../src/providers/ec2/index.js';
import { harness, launchSpec, REGION, type Harness } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('ec2 launch and terminate through the real SDK', () => {
  it('launches with ClientToken, tags, IMDSv2-only, terminate-on-shutdown, and cleans up everything', async () => {
    h = await harness();
    const base = h.ec2.seedImage(REGION, { name: 'debian-12-amd64-20260101-1' });
    const spec = launchSpec(base);
    const info = await h.provider.launch(h.ctx, spec);
    expect(info.host).toMatch(/^127\./);
    expect(info.hostKeyPublic).toBe(spec.identity.hostKeyPublic);

    const run = h.ec2.requests.filter((r) => r.action === 'RunInstances' && !r.dryRun);
    expect(run).toHaveLength(1);
    const p = run[0]!.params;
    expect(p.ClientToken).toMatch(/^[\x21-\x7e]{1,64}$/);
    expect(p['MetadataOptions.HttpTokens']).toBe('required');
    expect(p.InstanceInitiatedShutdownBehavior).toBe('terminate');
    const types = Object.keys(p)
      .filter((k) => /^TagSpecification\.\d+\.ResourceType$/.test(k))
      .map((k) => p[k]);
    expect(types.sort()).toEqual(['instance', 'network-interface', 'volume']);
    const tagKeys = Object.keys(p)
      .filter((k) => /^TagSpecification\.1\.Tag\.\d+\.Key$/.test(k))
      .map((k) => p[k]);
    expect(tagKeys).toEqual(
      expect.arrayContaining([
        'ovenproof:run-id',
        'ovenproof:expires-at',
        'ovenproof:repository',
        'ovenproof:commit',
      ]),
    );
    const expires = Object.keys(p).find(
      (k) => k.startsWith('TagSpecification.1.') && p[k] === 'ovenproof:expires-at',
    )!;
    expect(p[expires.replace(/Key$/, 'Value')]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const userData = parseUserData(Buffer.from(p.UserData!, 'base64').toString('utf8'));
    expect(userData.hostKeyPublic).toBe(spec.identity.hostKeyPublic);
    expect(userData.hostKeyPrivate?.trim()).toBe(spec.identity.hostKeyPrivate.trim());
    expect(userData.authorizedKeys).toEqual([spec.identity.authorizedKey]);
    expect(userData.shutdownMinutes).toBe(30);
    expect(userData.identityDocument).toContain('#ovenproof-identity 1');

    // Temporary security group: port 22 from the detected address only.
    const ingress = h.ec2.requests.find((r) => r.action === 'AuthorizeSecurityGroupIngress')!.params;
    expect(ingress['IpPermissions.1.IpRanges.1.CidrIp']).toBe('127.0.0.1/32');
    expect(ingress['IpPermissions.1.FromPort']).toBe('22');

    // The host private key and the user data carrying it are masked.
    expect(h.log.secrets).toContain(spec.identity.hostKeyPrivate);
    expect(h.log.lines.join('\n')).not.toContain('PRIVATE KEY');

    await h.provider.terminate(h.ctx, info.id);
    expect(h.ec2.live()).toEqual([]);
    expect(h.ledger.live()).toEqual([]);
  });
});
