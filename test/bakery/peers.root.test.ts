/**
 * (root) Two real bakery processes, each for its own region (local provider: a real volume bake with
 * loop devices, mounts and a chroot, on this host): bakery A (region-a) has `--peer region-b=<B>`. A
 * request to A for region-b is baked by B: A uploads the package file B lacks, B's job bakes, and A's
 * job mirrors it — its event stream and its polled state carry B's steps, and it ends with B's image.
 * Then the CLI: `ovenproof bake` picks its bakery from `baker-url` pairs by its region, and the image B
 * baked through A is promoted by B.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseImage, localTestProvider } from '../support/local-base.js';
import { testContext } from '../baker/helpers/context.js';
import { buildMarkerDeb } from '../baker/helpers/test-deb.js';
import { createToken } from '../../src/bakery/auth.js';
import {
  api,
  readEvents,
  REPO_ROOT,
  startBakery,
  tempDir,
  type ApiJson,
  type BakeryProcess,
} from './helpers.js';
import { budgets, timeoutFor } from '../support/timeouts.js';

const provider = localTestProvider();
const dir = tempDir('bakery-peers');
const madeImages = new Set<string>();
let clientToken: string;
let peerToken: string;
let baseId: string;
let deb: string;
let bakeryA: BakeryProcess;
let bakeryB: BakeryProcess;

beforeAll(async () => {
  baseId = (await ensureBaseImage()).id;
  deb = buildMarkerDeb(dir);
  // The client holds a token of A; A holds a token of B (created on B, kept in A's peer token file).
  clientToken = await createToken(join(dir, 'tokens-a'), 'ci');
  peerToken = await createToken(join(dir, 'tokens-b'), 'peer-region-a');
  writeFileSync(join(dir, 'peer-token-b'), `${peerToken}\n`, { mode: 0o600 });
  bakeryB = await startBakery([
    '--region',
    'region-b',
    '--data-dir',
    join(dir, 'data-b'),
    '--token-file',
    join(dir, 'tokens-b'),
  ]);
  bakeryA = await startBakery([
    '--region',
    'region-a',
    '--data-dir',
    join(dir, 'data-a'),
    '--token-file',
    join(dir, 'tokens-a'),
    '--peer',
    `region-b=${bakeryB.url}`,
    '--peer-token-file',
    `region-b=${join(dir, 'peer-token-b')}`,
  ]);
}, timeoutFor(budgets.baseImage));

afterAll(async () => {
  await bakeryA?.stop();
  await bakeryB?.stop();
  const { ctx } = await testContext(join(dir, 'cleanup-ledger.json'));
  for (const id of madeImages) await provider.deregisterImage(ctx, id).catch(() => undefined);
}, timeoutFor(budgets.teardown));

/** Polls A's view of the bake until it is final, keeping every (state, step) it showed. */
async function pollUntilFinal(id: string): Promise<{ seen: Array<[string, string | null]>; job: ApiJson }> {
  const seen: Array<[string, string | null]> = [];
  for (;;) {
    const { status, body } = await api(bakeryA.url, clientToken, `/v1/bakes/${id}`);
    expect(status).toBe(200);
    seen.push([body.state, body.step]);
    if (!['queued', 'running'].includes(body.state)) return { seen, job: body };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('bakery peers (root)', () => {
  it(
    'serves a request to A for region-b in B, relaying its events (SSE and polling) and its image',
    async () => {
      const upload = await api(bakeryA.url, clientToken, '/v1/files', {
        method: 'POST',
        body: readFileSync(deb),
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(upload.status).toBe(201);
      const digest: string = upload.body.sha256;
      // B has never seen the file: A must upload it before forwarding.
      expect((await api(bakeryB.url, peerToken, `/v1/files/${digest}`, { method: 'HEAD' })).status).toBe(404);

      const body = {
        baseImage: baseId,
        packages: [],
        files: [digest],
        provisionScript: `# bakery peers test ${Date.now()}\ntrue`,
        region: 'region-b',
      };
      const asked = await api(bakeryA.url, clientToken, '/v1/bakes', {
        method: 'POST',
        body: JSON.stringify(body),
      });
      expect(asked.status).toBe(202);
      expect(asked.body.requestedBy).toBe('token:ci');
      const id: string = asked.body.id;

      const [events, polled] = await Promise.all([
        readEvents(bakeryA.url, clientToken, id),
        pollUntilFinal(id),
      ]);

      // The bake happened in B: a job there, asked for by A's peer token and marked as forwarded.
      const atB = (await api(bakeryB.url, peerToken, '/v1/bakes')).body.bakes as ApiJson[];
      expect(atB).toHaveLength(1);
      const jobB = atB[0];
      expect(jobB).toMatchObject({ state: 'succeeded', requestedBy: 'token:peer-region-a' });
      expect(jobB.request).toMatchObject({ region: 'region-b', forwardedBy: 'region-a', files: [digest] });
      madeImages.add(jobB.image.id);
      expect((await api(bakeryB.url, peerToken, `/v1/files/${digest}`, { method: 'HEAD' })).status).toBe(200);
      // B's job baked the image (A and B share this host's image store, so the image tag tells who).
      const image = await provider.describeImage(jobB.image.id);
      expect(image?.tags['ovenproof:bakery-job']).toBe(jobB.id);
      expect((await api(bakeryA.url, clientToken, '/v1/bakes')).body.bakes.map((b: ApiJson) => b.id)).toEqual(
        [id],
      );

      // The event stream at A: in order, B's steps and progress, A's forwarding log, then done with B's image.
      const ids = events.map((e) => e.id);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
      const steps = events.filter((e) => e.type === 'step').map((e) => e.data.step);
      expect(steps).toEqual(
        expect.arrayContaining([
          'Forwarding to the region-b bakery',
          'Copying base volume',
          'Installing packages',
          'Registering image',
        ]),
      );
      const logs = events.filter((e) => e.type === 'log').map((e) => String(e.data.message));
      expect(logs).toContainEqual(
        expect.stringContaining(`forwarded to the region-b bakery ${bakeryB.url}: bake ${jobB.id} queued`),
      );
      const fractions = events.filter((e) => e.type === 'progress').map((e) => e.data.progress as number);
      expect(fractions.at(-1)).toBe(1);
      const done = events.at(-1)!;
      expect(done.type).toBe('done');
      expect(done.data.bake).toMatchObject({ id, state: 'succeeded', image: { id: jobB.image.id } });

      // Polling A showed B's steps while it ran, and ends with the same image and B's durations.
      const runningSteps = polled.seen.filter(([state]) => state === 'running').map(([, step]) => step);
      expect(runningSteps).toEqual(expect.arrayContaining(['Installing packages']));
      expect(polled.job).toMatchObject({ state: 'succeeded', image: { id: jobB.image.id }, error: null });
      expect(Object.keys(polled.job.durationsMs)).toEqual(Object.keys(jobB.durationsMs));

      // The peer token never reaches a log line.
      expect([...bakeryA.lines, ...bakeryB.lines].join('\n')).not.toContain(peerToken);
    },
    timeoutFor(budgets.volumeBake),
  );

  it(
    'ovenproof bake in region-b with baker-url pairs: relayed by A to B, promoted by B',
    async () => {
      // The run's region picks the second bakery of the pair list (the first is a closed port); that
      // URL is bakery A (region-a), which forwards region-b to B. A package of its own (a new version
      // every run) makes B bake afresh instead of reusing an image an earlier run baked and promoted.
      const fresh = buildMarkerDeb(tempDir('bakery-peers-pkg'), `1.${Date.now()}`);
      const run = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/cli/main.ts',
          'bake',
          '--config',
          'examples/hello-deb/ovenproof.yml',
          '--set',
          `package=${fresh}`,
          '--set',
          'region=region-b',
          '--set',
          `baker-url=region-a=http://127.0.0.1:9,region-b=${bakeryA.url}`,
          '--set',
          `baker-token=${clientToken}`,
          '--json',
        ],
        { cwd: REPO_ROOT, encoding: 'utf8', timeout: timeoutFor(budgets.build, budgets.volumeBake) },
      );
      expect(run.status, run.stderr.slice(-3000)).toBe(0);
      expect(run.stderr).not.toContain(clientToken);
      const image = JSON.parse(run.stdout) as ApiJson;
      madeImages.add(image.id);
      expect(image).toMatchObject({ bakedBy: bakeryA.url, promoted: true, kept: true, expiresAt: null });
      // B baked it (A only relayed), with the real bake key in the result, and B promoted it.
      const atB = ((await api(bakeryB.url, peerToken, '/v1/bakes')).body.bakes as ApiJson[]).find(
        (b) => b.image?.id === image.id,
      );
      expect(atB).toMatchObject({
        state: 'succeeded',
        cacheHit: false,
        bakeKey: image.bakeKey,
        request: { forwardedBy: 'region-a' },
      });
      expect(bakeryB.lines.join('\n')).toContain(`bake ${atB.id}: image ${image.id} promoted`);
      const atA = ((await api(bakeryA.url, clientToken, '/v1/bakes')).body.bakes as ApiJson[]).find(
        (b) => b.image?.id === image.id,
      );
      expect(atA.bakeKey).toMatch(/^peer-region-b-/);
      expect(atA.image.peer).toEqual({ region: 'region-b', url: bakeryB.url, bake: atB.id });
      expect((await provider.describeImage(image.id))?.tags['ovenproof:kept']).toBe('true');

      // A run in a region with no bakery listed stops before any work, naming the regions there are.
      const nowhere = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/cli/main.ts',
          'bake',
          '--config',
          'examples/hello-deb/ovenproof.yml',
          '--set',
          'region=region-z',
          '--set',
          `baker-url=region-a=${bakeryA.url},region-b=${bakeryB.url}`,
          '--set',
          `baker-token=${clientToken}`,
        ],
        { cwd: REPO_ROOT, encoding: 'utf8', timeout: timeoutFor(budgets.build) },
      );
      expect(nowhere.status, nowhere.stderr).toBe(3);
      expect(nowhere.stderr).toContain("baker-url: no bakery for this run's region region-z");
    },
    timeoutFor(budgets.build, budgets.volumeBake, budgets.ownWork),
  );
});
