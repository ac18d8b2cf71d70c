/**
 * Peer routing: the `--peer` / `--peer-token-file` parsing and the region decision as functions, then
 * real bakery processes on 127.0.0.1 (no bake runs: every request here ends in a refusal, the
 * successful relay is in peers.root.test.ts): a region without a peer gets 400, a forwarded request is
 * never forwarded again (so two bakeries pointing at each other cannot loop), and a peer's refusal
 * reaches the client through the forwarding bakery's job.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/bakery/auth.js';
import { parsePeers, peerFor, regionRefusal, type Peer } from '../../src/bakery/peers.js';
import { api, readEvents, startBakery, tempDir, type BakeryProcess } from './helpers.js';

describe('parsePeers', () => {
  const dir = tempDir('peer-args');
  const euToken = join(dir, 'eu-token');
  const sharedToken = join(dir, 'shared-token');
  writeFileSync(euToken, '# token of the eu bakery\n\nopbk_eu\n');
  writeFileSync(sharedToken, 'opbk_shared\n');

  it('reads REGION=URL peers with a token each: their own file, else the shared one', async () => {
    const peers = await parsePeers(
      ['eu-west-1=https://bakery-eu.example.com/', 'us-east-1=http://10.0.0.5:8780'],
      [`eu-west-1=${euToken}`, sharedToken],
      'ap-south-1',
    );
    expect(peers).toEqual([
      { region: 'eu-west-1', url: 'https://bakery-eu.example.com', token: 'opbk_eu' },
      { region: 'us-east-1', url: 'http://10.0.0.5:8780', token: 'opbk_shared' },
    ]);
    expect(await parsePeers([], [], 'eu-west-1')).toEqual([]);
  });

  it('names what is wrong', async () => {
    const bad: Array<[string[], string[], RegExp]> = [
      [['eu-west-1'], [sharedToken], /--peer: "eu-west-1" is not REGION=URL/],
      [
        ['eu-west-1=bakery-eu:8780'],
        [sharedToken],
        /--peer eu-west-1: "bakery-eu:8780" is not an http\(s\) URL/,
      ],
      [['EU West=https://x.example'], [sharedToken], /"EU West" is not a region name/],
      [['ap-south-1=https://x.example'], [sharedToken], /own region/],
      [
        ['eu-west-1=https://a.example', 'eu-west-1=https://b.example'],
        [sharedToken],
        /eu-west-1: given twice/,
      ],
      [
        ['eu-west-1=https://a.example'],
        [],
        /--peer eu-west-1: no token for it; give --peer-token-file eu-west-1=FILE/,
      ],
      [['eu-west-1=https://a.example'], [`us-east-1=${euToken}`], /no --peer us-east-1=URL/],
      [['eu-west-1=https://a.example'], [join(dir, 'missing')], /cannot read .*missing/],
      [[], [sharedToken], /only used with --peer/],
    ];
    for (const [peerArgs, tokenArgs, message] of bad)
      await expect(parsePeers(peerArgs, tokenArgs, 'ap-south-1')).rejects.toThrow(message);
    writeFileSync(join(dir, 'empty'), '# nothing\n');
    await expect(parsePeers(['eu-west-1=https://a.example'], [join(dir, 'empty')], null)).rejects.toThrow(
      /holds no token/,
    );
  });
});

describe('region routing', () => {
  const executor = { region: 'eu-west-1', peerRegions: ['us-east-1'] };
  const peers = new Map<string, Peer>([
    ['us-east-1', { region: 'us-east-1', url: 'https://us.example', token: 't' }],
  ]);

  it('bakes its own region (or no region) itself and forwards a peer region', () => {
    expect(regionRefusal(executor, {})).toBeNull();
    expect(regionRefusal(executor, { region: 'eu-west-1' })).toBeNull();
    expect(regionRefusal(executor, { region: 'us-east-1' })).toBeNull();
    expect(peerFor(peers, 'eu-west-1', { region: 'us-east-1' })?.url).toBe('https://us.example');
    expect(peerFor(peers, 'eu-west-1', { region: 'eu-west-1' })).toBeNull();
    expect(peerFor(peers, 'eu-west-1', {})).toBeNull();
  });

  it('refuses a region with no peer, and never forwards a forwarded request', () => {
    expect(regionRefusal(executor, { region: 'ap-south-1' })).toMatch(
      /bakes in eu-west-1, not ap-south-1, and it has no --peer for ap-south-1 \(peers: us-east-1\)/,
    );
    expect(regionRefusal({ region: 'eu-west-1' }, { region: 'ap-south-1' })).toMatch(
      /no --peer for ap-south-1$/,
    );
    expect(regionRefusal(executor, { region: 'us-east-1', forwardedBy: 'ap-south-1' })).toMatch(
      /forwarded by the ap-south-1 bakery, and a forwarded request is never forwarded again/,
    );
    expect(peerFor(peers, 'eu-west-1', { region: 'us-east-1', forwardedBy: 'ap-south-1' })).toBeNull();
    // A bakery with no region of its own (local, no --region) bakes whatever it is asked.
    expect(regionRefusal({ region: null }, { region: 'us-east-1', forwardedBy: 'x' })).toBeNull();
  });
});

describe('peer bakeries (processes)', () => {
  const dir = tempDir('bakery-peer-routing');
  const env = { OVENPROOF_HOME: join(dir, 'home') };
  let clientToken: string;
  let a: BakeryProcess;
  let b: BakeryProcess;
  let c: BakeryProcess;

  const bake = (url: string, body: Record<string, unknown>, token = clientToken) =>
    api(url, token, '/v1/bakes', { method: 'POST', body: JSON.stringify({ packages: [], ...body }) });

  beforeAll(async () => {
    // One token file for all three: the client's token, and a peer token each bakery presents.
    clientToken = await createToken(join(dir, 'tokens'), 'ci');
    writeFileSync(join(dir, 'peer-token'), `${await createToken(join(dir, 'tokens'), 'peer')}\n`);
    const common = (name: string) => ['--data-dir', join(dir, name), '--token-file', join(dir, 'tokens')];
    b = await startBakery(['--region', 'region-b', ...common('b')], env);
    a = await startBakery(
      [
        '--region',
        'region-a',
        ...common('a'),
        '--peer',
        `region-b=${b.url}`,
        '--peer-token-file',
        join(dir, 'peer-token'),
      ],
      env,
    );
    // C is misconfigured on purpose: its peer for region-b is A (region-a), whose peer for region-b
    // is B. Without the forwarded mark a request to C for region-b would travel C → A → B.
    c = await startBakery(
      [
        '--region',
        'region-c',
        ...common('c'),
        '--peer',
        `region-b=${a.url}`,
        '--peer-token-file',
        `region-b=${join(dir, 'peer-token')}`,
      ],
      env,
    );
  }, 120_000);

  afterAll(async () => {
    for (const bakery of [a, b, c]) expect(await bakery?.stop()).toBe(0);
  });

  it('answers 400 wrong_region for a region without a peer', async () => {
    const response = await bake(a.url, { baseImage: 'debian-12', region: 'region-z' });
    expect(response.status).toBe(400);
    expect(response.body.error).toEqual({
      code: 'wrong_region',
      message:
        'region: this bakery bakes in region-a, not region-z, and it has no --peer for region-z (peers: region-b)',
    });
  });

  it('forwards to the peer and fails the job with the peer answer; the peer got the file first', async () => {
    const upload = await api(a.url, clientToken, '/v1/files', {
      method: 'POST',
      body: Buffer.from('not really a package\n'),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(upload.status).toBe(201);
    const digest = upload.body.sha256 as string;
    expect((await api(b.url, clientToken, `/v1/files/${digest}`, { method: 'HEAD' })).status).toBe(404);
    const asked = await bake(a.url, { baseImage: 'no-such-base', files: [digest], region: 'region-b' });
    expect(asked.status).toBe(202);
    const done = (await readEvents(a.url, clientToken, asked.body.id)).at(-1)!;
    expect(done.type).toBe('done');
    expect(done.data.bake.state).toBe('failed');
    // B's own 400 (it checks the file it was sent), named as B's.
    expect(done.data.bake.error.message).toContain(`bakery ${b.url} answered 400 to POST /v1/bakes`);
    expect(done.data.bake.error.message).toMatch(/package: .* is not a package file/);
    expect((await api(b.url, clientToken, `/v1/files/${digest}`, { method: 'HEAD' })).status).toBe(200);
  });

  it('never forwards a forwarded request: two bakeries pointing at each other do not loop', async () => {
    // A forwarded request for a region the bakery does not bake: refused, not passed on.
    const direct = await bake(c.url, { baseImage: 'debian-12', region: 'region-b', forwardedBy: 'region-a' });
    expect(direct.status).toBe(400);
    expect(direct.body.error.code).toBe('wrong_region');
    expect(direct.body.error.message).toContain('never forwarded again');

    // A client asks C for region-b; C forwards it to its region-b peer, which is A (region-a); A does
    // not forward it again, so C's job fails at once with A's refusal, and neither A nor B has a job.
    const before = (await api(a.url, clientToken, '/v1/bakes')).body.bakes.length as number;
    const asked = await bake(c.url, { baseImage: 'debian-12', region: 'region-b' });
    expect(asked.status).toBe(202);
    const done = (await readEvents(c.url, clientToken, asked.body.id)).at(-1)!;
    expect(done.data.bake.state).toBe('failed');
    expect(done.data.bake.error.message).toContain(`bakery ${a.url} answered 400`);
    expect(done.data.bake.error.message).toContain('forwarded by the region-c bakery');
    expect((await api(a.url, clientToken, '/v1/bakes')).body.bakes).toHaveLength(before);
    expect((await api(b.url, clientToken, '/v1/bakes')).body.bakes).toEqual([]);
  });

  it('answers /healthz with 503 while it drains; a relay still running after the grace period is cancelled', async () => {
    // A peer that accepts connections and never answers keeps the relay running.
    const silent = createServer(() => undefined);
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    const port = (silent.address() as AddressInfo).port;
    const args = [
      '--region',
      'region-d',
      '--data-dir',
      join(dir, 'd'),
      '--token-file',
      join(dir, 'tokens'),
      '--peer',
      `region-h=http://127.0.0.1:${port}`,
      '--peer-token-file',
      join(dir, 'peer-token'),
      '--grace',
      '3s',
    ];
    let d = await startBakery(args, env);
    try {
      const asked = await bake(d.url, { baseImage: 'debian-12', region: 'region-h' });
      expect(asked.status).toBe(202);
      await readEvents(d.url, clientToken, asked.body.id, (e) => e.type === 'step');
      expect(await api(d.url, null, '/healthz')).toEqual({ status: 200, body: { ok: true } });
      const exited = d.stop();
      let health = await api(d.url, null, '/healthz');
      while (health.status === 200) health = await api(d.url, null, '/healthz');
      expect(health).toEqual({ status: 503, body: { ok: false, stopping: true } });
      expect(await exited).toBe(0);
      d = await startBakery(args, env);
      const job = (await api(d.url, clientToken, `/v1/bakes/${asked.body.id}`)).body;
      expect(job.state).toBe('cancelled');
      expect(job.error.message).toBe('cancelled (the bakery is shutting down)');
    } finally {
      await d.stop();
      silent.closeAllConnections();
      silent.close();
    }
  }, 180_000);

  it('refuses to start with a peer but no token for it, naming the flag', async () => {
    await expect(
      startBakery(
        ['--region', 'region-a', '--token-file', join(dir, 'tokens'), '--peer', `region-b=${b.url}`],
        env,
      ),
    ).rejects.toThrow(/--peer region-b: no token for it/);
  });
});
