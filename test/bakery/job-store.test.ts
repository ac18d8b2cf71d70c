/**
 * The JobStore contract, run against both implementations: the SQLite file of a single bakery and a
 * DynamoDB table on moto's server. "Two processes" are two store objects on the same file or table
 * (separate connections and SDK clients), racing each other with real concurrency.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoJobStore } from '../../src/bakery/dynamodb-store.js';
import type { BakeJob } from '../../src/bakery/model.js';
import { SqliteJobStore } from '../../src/bakery/sqlite-store.js';
import type { JobStore } from '../../src/bakery/store.js';
import { dynamoStore, startLocalDynamo, uniqueTable, type LocalDynamo } from '../support/dynamodb.js';

let counter = 0;
function newJob(bakeKey: string, createdAt = new Date(Date.now() + counter).toISOString()): BakeJob {
  counter++;
  return {
    id: `bk-test-${counter}-${Math.random().toString(16).slice(2, 8)}`,
    state: 'queued',
    bakeKey,
    request: { baseImage: 'img-base', packages: ['curl'], files: [] },
    requestedBy: 'token:tests',
    step: null,
    progress: 0,
    image: null,
    error: null,
    cacheHit: false,
    durationsMs: {},
    createdAt,
    startedAt: null,
    finishedAt: null,
    heartbeatAt: null,
    owner: null,
  };
}

const uniqueKey = (name: string) => `${name}-${Math.random().toString(16).slice(2)}`;

interface Flavour {
  name: string;
  /** A fresh, empty store and a second handle on it (another process). */
  open(): Promise<[JobStore, JobStore]>;
}

const dir = mkdtempSync(join(tmpdir(), 'ovenproof-job-store-'));
let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startLocalDynamo();
}, 90_000);

afterAll(async () => {
  await dynamo?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const flavours: Flavour[] = [
  {
    name: 'sqlite',
    async open() {
      const path = join(dir, `${uniqueKey('jobs')}.sqlite`);
      return [new SqliteJobStore(path), new SqliteJobStore(path)];
    },
  },
  {
    name: 'dynamodb (moto)',
    async open() {
      const table = uniqueTable('jobs');
      const first = dynamoStore(dynamo.url, table);
      expect(await first.createTable()).toBe('created');
      return [first, dynamoStore(dynamo.url, table)];
    },
  },
];

describe.each(flavours)('JobStore contract: $name', (flavour) => {
  let a: JobStore;
  let b: JobStore;

  beforeAll(async () => {
    [a, b] = await flavour.open();
  }, 60_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('creates one job for one bake key when both processes insert at once, and a new one after it ended', async () => {
    const key = uniqueKey('same');
    const attempts = Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).insertUnlessActive(newJob(key)));
    const results = await Promise.all(attempts);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const winner = results.find((r) => r.created)!.job.id;
    expect(new Set(results.map((r) => r.job.id))).toEqual(new Set([winner]));
    expect((await a.get(winner))!.state).toBe('queued');

    await b.update(winner, {
      state: 'failed',
      error: { message: 'boom' },
      finishedAt: new Date().toISOString(),
    });
    const again = await a.insertUnlessActive(newJob(key));
    expect(again.created).toBe(true);
    expect(again.job.id).not.toBe(winner);
    const joined = await b.insertUnlessActive(newJob(key));
    expect(joined).toMatchObject({ created: false, job: { id: again.job.id } });
  });

  it('hands each queued job to exactly one claimer and skips what a claimer does not accept', async () => {
    const base = Date.parse('2026-01-01T00:00:00Z');
    const jobs = Array.from({ length: 6 }, (_, i) =>
      newJob(uniqueKey('claim'), new Date(base + i * 1000).toISOString()),
    );
    for (const job of jobs) await a.insertUnlessActive(job);
    const ours = new Set(jobs.map((j) => j.id));
    const onlyOurs = async (job: BakeJob) => ours.has(job.id);
    const claimed: Array<{ owner: string; id: string }> = [];
    const claimer = async (store: JobStore, owner: string) => {
      for (;;) {
        const job = await store.claimNext(owner, new Date().toISOString(), onlyOurs);
        if (!job) return;
        expect(job).toMatchObject({ state: 'running', owner });
        claimed.push({ owner, id: job.id });
      }
    };
    await Promise.all([claimer(a, 'bakery-a'), claimer(b, 'bakery-b'), claimer(a, 'bakery-c')]);
    expect(claimed.map((c) => c.id).sort()).toEqual([...ours].sort());
    for (const { id, owner } of claimed) expect((await b.get(id))!.owner).toBe(owner);

    const skipped = newJob(uniqueKey('skipped'), new Date(base - 1000).toISOString());
    const taken = newJob(uniqueKey('taken'), new Date(base).toISOString());
    await a.insertUnlessActive(skipped);
    await a.insertUnlessActive(taken);
    const picked = await b.claimNext(
      'bakery-b',
      new Date().toISOString(),
      async (job) => job.id === taken.id,
    );
    expect(picked?.id).toBe(taken.id);
    expect((await a.get(skipped.id))!.state).toBe('queued');
    await a.update(skipped.id, { state: 'cancelled', finishedAt: new Date().toISOString() });
  });

  it('renews leases, reports a lease another bakery took, and lets only one bakery take an orphan over', async () => {
    const job = newJob(uniqueKey('lease'));
    await a.insertUnlessActive(job);
    const t0 = new Date(Date.now() - 120_000).toISOString();
    const claimed = await a.claimNext('dead-bakery', t0, async (j) => j.id === job.id);
    expect(claimed?.id).toBe(job.id);
    expect(await a.heartbeat('dead-bakery', [job.id], t0)).toEqual([]);

    const staleBefore = new Date(Date.now() - 60_000).toISOString();
    const orphan = (await b.orphans(staleBefore)).find((o) => o.id === job.id);
    expect(orphan).toMatchObject({ owner: 'dead-bakery', heartbeatAt: t0 });
    // A fresh heartbeat is no orphan.
    const live = newJob(uniqueKey('live'));
    await a.insertUnlessActive(live);
    await a.claimNext('live-bakery', new Date().toISOString(), async (j) => j.id === live.id);
    expect((await b.orphans(staleBefore)).map((o) => o.id)).not.toContain(live.id);

    const now = new Date().toISOString();
    const [byA, byB] = await Promise.all([
      a.takeOver(orphan!, 'bakery-a', now),
      b.takeOver(orphan!, 'bakery-b', now),
    ]);
    expect([byA, byB].filter(Boolean)).toHaveLength(1);
    const winner = (byA ?? byB)!;
    expect(winner).toMatchObject({ state: 'running', heartbeatAt: now });
    expect(await a.heartbeat('dead-bakery', [job.id], new Date().toISOString())).toEqual([job.id]);
    expect(await a.heartbeat(winner.owner!, [job.id], new Date().toISOString())).toEqual([]);
    expect((await b.orphans(staleBefore)).map((o) => o.id)).not.toContain(job.id);
  });

  it('keeps events in order and reads them after a sequence number from either process', async () => {
    const job = newJob(uniqueKey('events'));
    await a.insertUnlessActive(job);
    for (let i = 0; i < 5; i++) await (i % 2 ? a : b).appendEvent(job.id, 'progress', { progress: i / 4 });
    const all = await b.events(job.id, 0);
    expect(all.map((e) => e.data.progress)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    const seqs = all.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(5);
    expect((await a.events(job.id, seqs[2]!)).map((e) => e.seq)).toEqual(seqs.slice(3));
  });

  it('keeps the ledger with the job: intend, created, deleted, kept; refuses a second live key', async () => {
    const job = newJob(uniqueKey('ledger'));
    await a.insertUnlessActive(job);
    await a.ledgerIntend(job.id, { key: 'vol', provider: 'local', kind: 'volume', data: { path: '/x' } });
    await b.ledgerCreated(job.id, 'vol', '/dev/loop9', { size: '1' });
    await a.ledgerIntend(job.id, { key: 'img', provider: 'local', kind: 'image' });
    await expect(b.ledgerIntend(job.id, { key: 'vol', provider: 'local', kind: 'volume' })).rejects.toThrow(
      /already has a live resource with key vol/,
    );
    await b.ledgerCreated(job.id, 'img', 'img-1');
    await a.ledgerSetState(job.id, 'vol', 'deleted');
    await b.ledgerSetState(job.id, 'img', 'kept');
    await expect(a.ledgerSetState(job.id, 'vol', 'kept')).rejects.toThrow(/already deleted/);
    await expect(a.ledgerCreated(job.id, 'nope', 'x')).rejects.toThrow(/no resource with key nope/);
    // A deleted key may be used again: the newest entry for it is the one that changes.
    await a.ledgerIntend(job.id, { key: 'vol', provider: 'local', kind: 'volume' });
    const ledger = await b.ledger(job.id);
    expect(ledger.map((e) => [e.key, e.kind, e.id, e.state])).toEqual([
      ['vol', 'volume', '/dev/loop9', 'deleted'],
      ['img', 'image', 'img-1', 'kept'],
      ['vol', 'volume', null, 'creating'],
    ]);
    expect(ledger[0]!.data).toEqual({ path: '/x', size: '1' });
    expect(ledger[0]!.deletedAt).not.toBeNull();
  });

  it('concurrent ledger writes from two processes all land', async () => {
    const job = newJob(uniqueKey('ledger-race'));
    await a.insertUnlessActive(job);
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        (i % 2 ? a : b).ledgerIntend(job.id, { key: `r${i}`, provider: 'local', kind: 'mount' }),
      ),
    );
    expect((await a.ledger(job.id)).map((e) => e.key).sort()).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
  });

  it('lists, finds the latest success of a key, counts stats, and refuses to update a missing job', async () => {
    const key = uniqueKey('done');
    const first = newJob(key);
    await a.insertUnlessActive(first);
    const t1 = new Date().toISOString();
    await a.update(first.id, {
      state: 'succeeded',
      finishedAt: t1,
      image: { id: 'img-first', name: 'n', baseImageId: 'b', createdAt: t1, tags: {} },
      durationsMs: { install: 100 },
    });
    const second = newJob(key);
    await b.insertUnlessActive(second);
    const t2 = new Date(Date.now() + 1000).toISOString();
    await b.update(second.id, {
      state: 'succeeded',
      finishedAt: t2,
      cacheHit: true,
      image: { id: 'img-second', name: 'n', baseImageId: 'b', createdAt: t2, tags: {} },
    });
    expect((await a.latestSucceeded(key))?.image?.id).toBe('img-second');
    expect(await a.latestSucceeded(uniqueKey('never'))).toBeNull();

    const succeeded = await b.list({ state: 'succeeded', limit: 100 });
    expect(succeeded.map((j) => j.id)).toEqual(expect.arrayContaining([first.id, second.id]));
    const newest = await a.list({ limit: 2 });
    expect(newest).toHaveLength(2);
    expect(newest[0]!.createdAt >= newest[1]!.createdAt).toBe(true);

    const stats = await a.stats(new Date(Date.now() - 60_000).toISOString());
    expect(stats.countsByState.succeeded).toBeGreaterThanOrEqual(2);
    expect(stats.stepDurationsMs.install?.count).toBeGreaterThanOrEqual(1);
    expect(stats.cacheHitRate).toBeGreaterThan(0);
    expect(stats.queueDepth).toBe(stats.countsByState.queued);

    await expect(a.update('bk-missing', { step: 'x' })).rejects.toThrow(/bk-missing does not exist/);

    if (a instanceof DynamoJobStore) {
      // A finished job carries the table's time-to-live attribute: 90 days after it finished.
      const raw = await a.client.send(
        new GetItemCommand({
          TableName: a.location.table,
          Key: { pk: { S: `job#${first.id}` }, sk: { S: 'job' } },
        }),
      );
      expect(Number(raw.Item?.expiresAt?.N)).toBe(Math.floor(Date.parse(t1) / 1000) + 90 * 86_400);
      const pending = newJob(uniqueKey('pending'));
      await a.insertUnlessActive(pending);
      const queued = await a.client.send(
        new GetItemCommand({
          TableName: a.location.table,
          Key: { pk: { S: `job#${pending.id}` }, sk: { S: 'job' } },
        }),
      );
      expect(queued.Item?.jobState?.S).toBe('queued');
      expect(queued.Item?.expiresAt).toBeUndefined();
    }
  });

  it('lists the bakeries of the store with their region and heartbeat', async () => {
    const now = new Date().toISOString();
    await a.registerBakery({
      id: 'host:1:aa',
      region: 'eu-west-1',
      provider: 'ec2',
      url: 'http://a',
      startedAt: now,
      heartbeatAt: now,
    });
    await b.registerBakery({
      id: 'host:2:bb',
      region: 'us-east-1',
      provider: 'ec2',
      url: 'http://b',
      startedAt: now,
      heartbeatAt: now,
    });
    const later = new Date(Date.now() + 5000).toISOString();
    await b.registerBakery({
      id: 'host:2:bb',
      region: 'us-east-1',
      provider: 'ec2',
      url: 'http://b',
      startedAt: now,
      heartbeatAt: later,
    });
    const listed = await a.bakeries();
    if (a.shared) {
      expect(listed.map((r) => [r.id, r.region, r.url, r.heartbeatAt])).toEqual([
        ['host:2:bb', 'us-east-1', 'http://b', later],
        ['host:1:aa', 'eu-west-1', 'http://a', now],
      ]);
    } else {
      // One bakery per SQLite file: the newest process's record replaces the earlier one.
      expect(listed.map((r) => [r.id, r.region, r.heartbeatAt])).toEqual([['host:2:bb', 'us-east-1', later]]);
    }
    await b.unregisterBakery('host:2:bb');
    expect((await a.bakeries()).map((r) => r.id)).not.toContain('host:2:bb');
  });
});
