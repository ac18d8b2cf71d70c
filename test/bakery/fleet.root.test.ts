/**
 * (root) A fleet of two real bakery processes (local provider: loop devices, mounts, chroot) on one
 * DynamoDB job store (moto) and one $OVENPROOF_HOME, driven over HTTP: the same bake asked of both at
 * once is baked once; ten different bakes spread over both all finish, each run once; a bakery killed
 * mid-bake loses its bake to the other within the lease, which cleans what it left and fails it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoJobStore } from '../../src/bakery/dynamodb-store.js';
import { ensureBaseImage, localTestProvider } from '../support/local-base.js';
import { testContext } from '../baker/helpers/context.js';
import { leftovers } from '../baker/helpers/leftovers.js';
import { buildMarkerDeb } from '../baker/helpers/test-deb.js';
import {
  dynamoEnv,
  dynamoStore,
  startLocalDynamo,
  uniqueTable,
  type LocalDynamo,
} from '../support/dynamodb.js';
import { MOTO_REGION } from '../support/moto.js';
import { budgets, testDeadlines, timeoutFor } from '../support/timeouts.js';
import {
  api,
  readEvents,
  startBakery,
  tempDir,
  tokenFile,
  type ApiJson,
  type BakeryProcess,
} from './helpers.js';

const provider = localTestProvider();
const home = provider.paths.home;
const dir = tempDir('bakery-fleet');
const madeImages = new Set<string>();
const table = uniqueTable('fleet');
let dynamo: LocalDynamo;
let store: DynamoJobStore;
let token: string;
let baseId: string;
let deb: string;
let fileDigest: string;
const bakeries: BakeryProcess[] = [];

function bakeBody(tag: string) {
  // A unique provisioning script per case keeps the cases (and earlier runs) from sharing a bake key.
  return {
    baseImage: baseId,
    packages: [],
    files: [fileDigest],
    provisionScript: `# fleet test ${tag} ${Date.now()}\ntrue`,
  };
}

function post(url: string, body: unknown) {
  return api(url, token, '/v1/bakes', { method: 'POST', body: JSON.stringify(body) });
}

/** The owner id a bakery process runs its bakes under (from its start line). */
function ownerOf(bakery: BakeryProcess): string {
  const line = bakery.lines
    .map((l) => JSON.parse(l) as { msg?: string; owner?: string })
    .find((l) => l.msg === 'bakery listening');
  return line!.owner!;
}

async function startFleetBakery(name: string): Promise<BakeryProcess> {
  const bakery = await startBakery(
    [
      '--data-dir',
      join(dir, `data-${name}`),
      '--token-file',
      join(dir, 'tokens'),
      '--max-concurrent',
      '1',
      '--store',
      `dynamodb://${table}?region=${MOTO_REGION}`,
      '--lease',
      `${testDeadlines.bakeryLease / 1000}s`,
    ],
    dynamoEnv(dynamo.url),
  );
  const upload = await api(bakery.url, token, '/v1/files', {
    method: 'POST',
    body: readFileSync(deb),
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(upload.status).toBe(201);
  fileDigest = upload.body.sha256;
  return bakery;
}

/** How many times the bake's events say it started running: once for a bake run once. */
async function runsOf(jobId: string): Promise<number> {
  return (await store.events(jobId, 0)).filter((e) => e.type === 'state' && e.data.state === 'running')
    .length;
}

/** Nothing of the job is live in its ledger (in the store), attached as a loop device or mounted. */
async function expectNothingLeft(jobId: string, pid: number) {
  const entries = await store.ledger(jobId);
  expect(entries.length).toBeGreaterThan(0);
  expect(entries.filter((e) => e.state === 'live' || e.state === 'creating')).toEqual([]);
  expect(leftovers(home, entries, pid)).toEqual([]);
  const loops = execFileSync('losetup', ['-a'], { encoding: 'utf8' });
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  for (const entry of entries) {
    if (entry.kind === 'volume') expect(loops).not.toContain(entry.id!);
    if (entry.kind === 'mount') expect(mounts).not.toContain(` ${entry.data.path ?? entry.id} `);
  }
}

beforeAll(
  async () => {
    baseId = (await ensureBaseImage()).id;
    ({ token } = await tokenFile(dir));
    deb = buildMarkerDeb(dir);
    dynamo = await startLocalDynamo();
    store = dynamoStore(dynamo.url, table);
    await store.createTable();
    bakeries.push(await startFleetBakery('a'), await startFleetBakery('b'));
  },
  timeoutFor(
    budgets.baseImage,
    budgets.build,
    testDeadlines.motoStart,
    budgets.hostCommands,
    budgets.hostCommands,
  ),
);

afterAll(
  async () => {
    for (const bakery of bakeries) await bakery.stop();
    await store?.close();
    await dynamo?.stop();
    const { ctx } = await testContext(join(dir, 'cleanup-ledger.json'));
    for (const id of madeImages) await provider.deregisterImage(ctx, id).catch(() => undefined);
  },
  timeoutFor(budgets.teardown, budgets.hostCommands),
);

describe('a fleet of two bakeries on one DynamoDB store (root)', () => {
  it(
    'bakes the same request asked of both at once once; both callers get its id and image',
    async () => {
      const [a, b] = bakeries as [BakeryProcess, BakeryProcess];
      const body = bakeBody('same');
      const answers = await Promise.all([
        post(a.url, body),
        post(b.url, body),
        post(a.url, body),
        post(b.url, body),
      ]);
      const ids = new Set(answers.map((r) => r.body.id));
      expect(ids.size).toBe(1);
      expect(answers.map((r) => r.status).sort()).toEqual([200, 200, 200, 202]);
      const id = answers[0]!.body.id as string;
      // Each bakery streams the bake's events, whichever of them runs it.
      const [fromA, fromB] = await Promise.all([readEvents(a.url, token, id), readEvents(b.url, token, id)]);
      for (const events of [fromA, fromB]) {
        expect(events.at(-1)!.type).toBe('done');
        expect(events.at(-1)!.data.bake.state).toBe('succeeded');
        expect(events.filter((e) => e.type === 'step').map((e) => e.data.step)).toContain(
          'Installing packages',
        );
      }
      const [jobA, jobB] = await Promise.all([
        api(a.url, token, `/v1/bakes/${id}`),
        api(b.url, token, `/v1/bakes/${id}`),
      ]);
      expect(jobA.body.image.id).toBe(jobB.body.image.id);
      madeImages.add(jobA.body.image.id);
      expect(await runsOf(id)).toBe(1);
      const images = (await api(a.url, token, '/v1/images')).body.images.filter(
        (i: { bakeKey: string }) => i.bakeKey === jobA.body.bakeKey,
      );
      expect(images.map((i: { id: string }) => i.id)).toEqual([jobA.body.image.id]);
      // Asked again of either bakery: that bake, no new one.
      const again = await post(b.url, body);
      expect(again).toMatchObject({ status: 200, body: { id } });
    },
    timeoutFor(budgets.volumeBake, budgets.ownWork),
  );

  it(
    'finishes ten different bakes spread over both bakeries, each run exactly once',
    async () => {
      const created = await Promise.all(
        Array.from({ length: 10 }, (_, i) => post(bakeries[i % 2]!.url, bakeBody(`spread-${i}`))),
      );
      expect(created.map((r) => r.status)).toEqual(Array(10).fill(202));
      const ids = created.map((r) => r.body.id as string);
      expect(new Set(ids).size).toBe(10);
      const done = await Promise.all(ids.map((id, i) => readEvents(bakeries[(i + 1) % 2]!.url, token, id)));
      const jobs: ApiJson[] = done.map((events) => events.at(-1)!.data.bake);
      expect(jobs.map((j) => j.state)).toEqual(Array(10).fill('succeeded'));
      for (const job of jobs) madeImages.add(job.image.id);
      expect(new Set(jobs.map((j) => j.image.id)).size).toBe(10);
      for (const id of ids) expect(await runsOf(id)).toBe(1);
      // Both bakeries baked.
      const owners = new Set(
        await Promise.all(
          ids.map(
            async (id) =>
              (await store.events(id, 0)).find((e) => e.type === 'state' && e.data.state === 'running')!.data
                .owner,
          ),
        ),
      );
      expect(owners).toEqual(new Set(bakeries.map(ownerOf)));
      expect((await api(bakeries[0]!.url, token, '/v1/bakes?state=running')).body.bakes).toEqual([]);
      expect((await api(bakeries[0]!.url, token, '/v1/bakes?state=queued')).body.bakes).toEqual([]);
    },
    timeoutFor(...Array<number>(10).fill(budgets.volumeBake)),
  );

  it(
    'after SIGKILL of the bakery running a bake, the other takes it over within the lease: failed, nothing left',
    async () => {
      const body = bakeBody('sigkill');
      const created = await post(bakeries[0]!.url, body);
      expect(created.status).toBe(202);
      const id = created.body.id as string;
      const started = await readEvents(
        bakeries[0]!.url,
        token,
        id,
        (e) => e.type === 'step' && e.data.step === 'Blocking service starts',
      );
      const owner = started.find((e) => e.type === 'state' && e.data.state === 'running')!.data
        .owner as string;
      const victimIndex = bakeries.findIndex((b) => ownerOf(b) === owner);
      expect(victimIndex).toBeGreaterThanOrEqual(0);
      const victim = bakeries.splice(victimIndex, 1)[0]!;
      const survivor = bakeries[0]!;
      const before = (await store.ledger(id)).filter((e) => e.state === 'live');
      expect(before.map((e) => e.kind)).toEqual(expect.arrayContaining(['volume', 'attachment', 'mount']));
      const deadPid = victim.child.pid!;
      await victim.kill();
      const killedAt = Date.now();

      // The survivor notices the lease running out, cleans the ledger and fails the job.
      const deadline = killedAt + testDeadlines.bakeryLease + budgets.hostCommands;
      let job: ApiJson;
      for (;;) {
        job = (await api(survivor.url, token, `/v1/bakes/${id}`)).body;
        if (job.state !== 'running' || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(job.state).toBe('failed');
      expect(job.error.message).toContain(`the bakery running this bake (${owner}) stopped mid-bake`);
      const takeover = survivor.lines
        .map((l) => JSON.parse(l) as { msg?: string })
        .find((l) => l.msg?.includes(`bake ${id}: its bakery ${owner} is gone; taking it over`));
      expect(takeover).toBeDefined();
      await expectNothingLeft(id, deadPid);
      expect((await api(survivor.url, token, '/v1/bakes?state=running')).body.bakes).toEqual([]);
      const listed = (await api(survivor.url, token, '/v1/bakeries')).body.bakeries as Array<{
        id: string;
        live: boolean;
      }>;
      expect(listed.find((r) => r.id === owner)?.live).toBe(false);

      // The same request bakes anew on the survivor.
      const anew = await post(survivor.url, body);
      expect(anew.status).toBe(202);
      expect(anew.body.id).not.toBe(id);
      const done = (await readEvents(survivor.url, token, anew.body.id)).at(-1)!;
      expect(done.data.bake.state).toBe('succeeded');
      madeImages.add(done.data.bake.image.id);
    },
    timeoutFor(budgets.volumeBake, testDeadlines.bakeryLease, budgets.hostCommands, budgets.volumeBake),
  );

  it(
    'a bakery stalled past its lease finds its bake taken over: it stops it, cleans what it made since, keeps the outcome',
    async () => {
      bakeries.push(await startFleetBakery('c'));
      const created = await post(bakeries[0]!.url, bakeBody('stalled'));
      expect(created.status).toBe(202);
      const id = created.body.id as string;
      const started = await readEvents(
        bakeries[0]!.url,
        token,
        id,
        (e) => e.type === 'step' && e.data.step === 'Blocking service starts',
      );
      const owner = started.find((e) => e.type === 'state' && e.data.state === 'running')!.data
        .owner as string;
      const stalled = bakeries.find((b) => ownerOf(b) === owner)!;
      const other = bakeries.find((b) => b !== stalled)!;
      stalled.child.kill('SIGSTOP');
      let job: ApiJson;
      try {
        const deadline = Date.now() + testDeadlines.bakeryLease + budgets.hostCommands;
        for (;;) {
          job = (await api(other.url, token, `/v1/bakes/${id}`)).body;
          if (job.state !== 'running' || Date.now() > deadline) break;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      } finally {
        stalled.child.kill('SIGCONT');
      }
      expect(job.state).toBe('failed');
      expect(job.error.message).toContain(`(${owner}) stopped mid-bake`);
      // Woken up, the stalled bakery learns it lost the lease and stops the bake without ending it again.
      const deadline = Date.now() + testDeadlines.bakeryLease + budgets.hostCommands;
      const stoppedHere = () =>
        stalled.lines.some((l) =>
          (JSON.parse(l) as { msg?: string }).msg?.startsWith(`bake ${id} stopped here (lease lost)`),
        );
      while (!stoppedHere() && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 250));
      expect(stoppedHere()).toBe(true);
      const after = (await api(stalled.url, token, `/v1/bakes/${id}`)).body;
      expect(after).toMatchObject({ state: 'failed', image: null, error: { message: job.error.message } });
      await expectNothingLeft(id, stalled.child.pid!);
    },
    timeoutFor(
      budgets.hostCommands,
      budgets.volumeBake,
      testDeadlines.bakeryLease,
      budgets.hostCommands,
      testDeadlines.bakeryLease,
      budgets.hostCommands,
    ),
  );
});
