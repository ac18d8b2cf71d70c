/**
 * Two bakery processes with the EC2 provider, each in its own region, against the local EC2 endpoint
 * (the real SDK; state kept per region): bakery A (eu-west-1) has `--peer us-east-1=<B>`. A request to
 * A for us-east-1 is served by B from B's bake cache (an image of that bake key already in us-east-1),
 * and promoting the bake at A has B — the image's home bakery — tag it kept and copy it to another
 * region; A touches nothing in EC2.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/bakery/auth.js';
import { BakeryClient } from '../../src/bakery/client.js';
import { prepareBake } from '../../src/baker/index.js';
import { createEc2Provider } from '../../src/providers/ec2/index.js';
import { ACCOUNT_ID, startEc2Endpoint, type Ec2Endpoint } from '../support/ec2-endpoint/index.js';
import { FAST, memoryLogger } from '../ec2/helpers.js';
import { api, readEvents, startBakery, type ApiJson, type BakeryProcess } from './helpers.js';

const HOME_REGION = 'us-east-1';
const BASE = 'name=debian-12-amd64-*,owner=136693071363';
const dir = mkdtempSync(join(tmpdir(), 'ovenproof-peers-ec2-'));
let ec2: Ec2Endpoint;
let a: BakeryProcess;
let b: BakeryProcess;
let token: string;
let cachedImage: string;

function ec2Settings() {
  return {
    endpoint: ec2.url,
    ...FAST,
    // Nothing may leave 127.0.0.0/8: a closed loopback port stands in for IMDS.
    imdsEndpoint: 'http://127.0.0.1:9',
    imdsTimeoutMs: 200,
  };
}

beforeAll(async () => {
  ec2 = await startEc2Endpoint({ transitionMs: 10 });
  ec2.seedImage(HOME_REGION, { name: 'debian-12-amd64-20260101-1' });
  // The bake key B computes for the request below, and an image of it in B's region: a cache hit.
  const provider = createEc2Provider({
    region: HOME_REGION,
    ...ec2Settings(),
    lockDir: join(dir, 'lock'),
    credentials: ec2.credentials,
    log: memoryLogger(),
  });
  const { bakeKey } = await prepareBake(provider, {
    baseImage: BASE,
    packageFiles: [],
    packages: ['jq'],
    strategy: 'instance',
    sshUser: 'admin',
  });
  cachedImage = ec2.seedImage(HOME_REGION, {
    name: 'ovenproof-cached-jq',
    owner: ACCOUNT_ID,
    tags: {
      'ovenproof:bake-key': bakeKey,
      'ovenproof:expires-at': new Date(Date.now() + 86_400_000).toISOString(),
    },
  });

  token = await createToken(join(dir, 'tokens'), 'ci');
  writeFileSync(join(dir, 'peer-token'), `${await createToken(join(dir, 'tokens'), 'peer-eu')}\n`);
  const env = {
    AWS_ACCESS_KEY_ID: ec2.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ec2.credentials.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    OVENPROOF_HOME: join(dir, 'home'),
    OVENPROOF_EC2_SETTINGS: JSON.stringify({ ...ec2Settings(), lockDir: join(dir, 'bakery-lock') }),
  };
  const common = (name: string) => [
    '--provider',
    'ec2',
    '--data-dir',
    join(dir, name),
    '--token-file',
    join(dir, 'tokens'),
  ];
  b = await startBakery(['--region', HOME_REGION, ...common('b')], env);
  a = await startBakery(
    [
      '--region',
      'eu-west-1',
      ...common('a'),
      '--peer',
      `${HOME_REGION}=${b.url}`,
      '--peer-token-file',
      join(dir, 'peer-token'),
    ],
    env,
  );
}, 120_000);

afterAll(async () => {
  for (const bakery of [a, b]) expect(await bakery?.stop()).toBe(0);
  await ec2?.close();
});

describe('bakery peers on EC2', () => {
  it("serves a request to A for B's region from B, and B promotes and copies the image", async () => {
    const asked = await api(a.url, token, '/v1/bakes', {
      method: 'POST',
      body: JSON.stringify({ baseImage: BASE, packages: ['jq'], strategy: 'instance', region: HOME_REGION }),
    });
    expect(asked.status).toBe(202);
    const done = (await readEvents(a.url, token, asked.body.id)).at(-1)!;
    expect(done.data.bake).toMatchObject({ state: 'succeeded', cacheHit: true, image: { id: cachedImage } });

    const atB = (await api(b.url, token, '/v1/bakes')).body.bakes as ApiJson[];
    expect(atB).toHaveLength(1);
    expect(atB[0]).toMatchObject({
      state: 'succeeded',
      requestedBy: 'token:peer-eu',
      image: { id: cachedImage },
      request: { region: HOME_REGION, forwardedBy: 'eu-west-1' },
    });
    // Nothing was looked up or baked in A's region.
    expect(ec2.requests.filter((r) => r.region === 'eu-west-1')).toEqual([]);

    // Promoted at A, done by B: the image's home bakery tags it and copies it (its own region skipped).
    const promote = () =>
      api(a.url, token, `/v1/bakes/${asked.body.id}/promote`, {
        method: 'POST',
        body: JSON.stringify({ tested: 'passed', regions: ['ap-south-1', HOME_REGION] }),
      });
    const promoted = await promote();
    expect(promoted.status).toBe(200);
    expect(promoted.body.copies).toEqual([{ region: 'ap-south-1', id: expect.stringMatching(/^ami-/) }]);
    const copyId: string = promoted.body.copies[0].id;
    const home = Object.fromEntries(ec2.region(HOME_REGION).images.get(cachedImage)!.tags);
    expect(home).toMatchObject({ 'ovenproof:kept': 'true', 'ovenproof:tested': 'passed' });
    const copy = ec2.region('ap-south-1').images.get(copyId)!;
    expect(Object.fromEntries(copy.tags)).toMatchObject({ 'ovenproof:kept': 'true' });
    const copyCalls = ec2.requests.filter((r) => r.action === 'CopyImage' && r.status === 200);
    expect(copyCalls.map((r) => [r.region, r.params.SourceRegion, r.params.SourceImageId])).toEqual([
      ['ap-south-1', HOME_REGION, cachedImage],
    ]);
    // Promoting again is harmless: the copy recorded in the bake's ledger, no second image.
    const again = await promote();
    expect(again.body.copies).toEqual([{ region: 'ap-south-1', id: copyId }]);
    expect([...ec2.region('ap-south-1').images.keys()]).toEqual([copyId]);
    // A copy that takes longer than a quick answer: 200 at once (a streamed body, no length), the
    // copies at the end; one that fails after that point is reported in the body, which the client
    // turns into an error naming it.
    ec2.inject({ type: 'slow', kind: 'image', ms: 4_000 });
    const slow = await fetch(`${a.url}/v1/bakes/${asked.body.id}/promote`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ regions: ['sa-east-1'] }),
    });
    expect(slow.status).toBe(200);
    expect(slow.headers.get('content-length')).toBeNull();
    const slowCopies = (JSON.parse(await slow.text()) as ApiJson).copies;
    expect(slowCopies).toEqual([{ region: 'sa-east-1', id: expect.stringMatching(/^ami-/) }]);
    expect(ec2.region('sa-east-1').images.get(slowCopies[0].id)?.state).toBe('available');
    ec2.inject({ type: 'image-fails', pendingMs: 3_000 });
    const client = new BakeryClient({ url: a.url, token, credentialHint: 'test' });
    await expect(
      client.promoteBake(asked.body.id, { tested: null, regions: ['ca-central-1'] }),
    ).rejects.toThrow(new RegExp(`bakery ${a.url} could not promote bake ${asked.body.id}: .*ami-`));

    // A never called EC2 in its own region for any of this.
    expect(ec2.requests.filter((r) => r.region === 'eu-west-1')).toEqual([]);
    // A bake that did not succeed cannot be promoted.
    const failed = await api(a.url, token, '/v1/bakes', {
      method: 'POST',
      body: JSON.stringify({ baseImage: 'name=no-such-*', packages: [], region: HOME_REGION }),
    });
    const failedDone = (await readEvents(a.url, token, failed.body.id)).at(-1)!;
    expect(failedDone.data.bake.state).toBe('failed');
    const notPromoted = await api(a.url, token, `/v1/bakes/${failed.body.id}/promote`, {
      method: 'POST',
      body: JSON.stringify({}),
    });
    expect(notPromoted.status).toBe(409);
    expect(notPromoted.body.error.message).toContain('is failed');
  });
});
