/**
 * The DynamoDB job store under the faults DynamoDB and networks produce, injected by a proxy in front
 * of moto: throttling (ThrottlingException, ProvisionedThroughputExceededException), conditional
 * writes that fail as if another bakery had won, and answers lost after moto acted (the SDK then
 * repeats a write that was already done). Three store clients stand for three bakeries; the checks
 * read the table directly on moto, past the proxy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoJobStore } from '../../src/bakery/dynamodb-store.js';
import type { BakeJob } from '../../src/bakery/model.js';
import {
  dynamoStore,
  startDynamoProxy,
  uniqueTable,
  type DynamoFault,
  type DynamoFaultProxy,
  type DynamoRequest,
} from '../support/dynamodb.js';
import { startMoto, type Moto } from '../support/moto.js';

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'TransactWriteItems']);

/** A fixed pattern of faults over the request stream, so that every kind happens in every run. */
function faultPattern(): (request: DynamoRequest) => DynamoFault {
  let n = 0;
  return ({ operation, body }) => {
    n++;
    if (operation === 'DescribeTable' || operation === 'CreateTable') return 'forward';
    if (n % 13 === 0) return 'lose-answer';
    if (n % 9 === 0) return n % 2 ? 'throttle' : 'throughput-exceeded';
    // Conditions another bakery can make fail (a claim, a lease, a ledger version); an item's mere
    // existence cannot change under a job that exists.
    const conditional =
      operation === 'TransactWriteItems' ||
      (WRITES.has(operation) &&
        typeof body.ConditionExpression === 'string' &&
        body.ConditionExpression !== 'attribute_exists(pk)');
    if (conditional && n % 11 === 0) return 'condition-failed';
    return 'forward';
  };
}

function newJob(index: number, bakeKey: string): BakeJob {
  return {
    id: `bk-fault-${index}-${Math.random().toString(16).slice(2, 8)}`,
    state: 'queued',
    bakeKey,
    request: { baseImage: 'img-base', packages: [], files: [] },
    requestedBy: 'token:tests',
    step: null,
    progress: 0,
    image: null,
    error: null,
    cacheHit: false,
    durationsMs: {},
    createdAt: new Date(Date.now() + index).toISOString(),
    startedAt: null,
    finishedAt: null,
    heartbeatAt: null,
    owner: null,
  };
}

let moto: Moto;
let proxy: DynamoFaultProxy;
let direct: DynamoJobStore;
let bakeries: DynamoJobStore[];

beforeAll(async () => {
  moto = await startMoto();
  const table = uniqueTable('faults');
  direct = dynamoStore(moto.url, table);
  await direct.createTable();
  proxy = await startDynamoProxy(moto.url, faultPattern());
  bakeries = [0, 1, 2].map(() => dynamoStore(proxy.url, table));
}, 90_000);

afterAll(async () => {
  for (const store of bakeries ?? []) await store.close();
  await direct?.close();
  await proxy?.close();
  await moto?.stop();
});

describe('DynamoDB job store under throttling, failed conditions and lost answers', () => {
  it('queues one job per bake key, runs each exactly once, and keeps events and ledgers whole', async () => {
    const keys = Array.from(
      { length: 10 },
      (_, i) => `fault-key-${i}-${Math.random().toString(16).slice(2)}`,
    );
    // Every bakery asks for every key at the same time.
    const inserted = await Promise.all(
      keys.flatMap((key, k) => bakeries.map((store, s) => store.insertUnlessActive(newJob(k * 3 + s, key)))),
    );
    const jobs = await direct.list({ limit: 1000 });
    expect(jobs).toHaveLength(10);
    expect(new Set(jobs.map((j) => j.bakeKey))).toEqual(new Set(keys));
    for (const key of keys) {
      const answers = inserted.filter((r) => r.job.bakeKey === key);
      expect(answers.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(answers.map((r) => r.job.id)).size).toBe(1);
    }

    // Three bakeries claim until nothing of ours is queued.
    const claims: Array<{ id: string; owner: string }> = [];
    const owners = ['bakery-0', 'bakery-1', 'bakery-2'];
    await Promise.all(
      bakeries.map(async (store, s) => {
        while ((await direct.list({ state: 'queued', limit: 100 })).length > 0) {
          const job = await store.claimNext(owners[s]!, new Date().toISOString());
          if (job) claims.push({ id: job.id, owner: owners[s]! });
        }
      }),
    );
    expect(claims.map((c) => c.id).sort()).toEqual(jobs.map((j) => j.id).sort());
    for (const claim of claims) expect((await direct.get(claim.id))!.owner).toBe(claim.owner);

    // Leases renew for their holders, whatever the proxy does to the requests.
    for (const [s, store] of bakeries.entries()) {
      const mine = claims.filter((c) => c.owner === owners[s]).map((c) => c.id);
      expect(await store.heartbeat(owners[s]!, mine, new Date().toISOString())).toEqual([]);
    }

    // Events and ledgers of every job, written by its bakery.
    await Promise.all(
      claims.map(async ({ id, owner }) => {
        const store = bakeries[owners.indexOf(owner)]!;
        for (let i = 0; i < 4; i++) await store.appendEvent(id, 'progress', { progress: i / 3 });
        await store.ledgerIntend(id, { key: 'volume', provider: 'local', kind: 'volume' });
        await store.ledgerCreated(id, 'volume', `/dev/loop-${id}`);
        await store.ledgerIntend(id, { key: 'mount', provider: 'local', kind: 'mount' });
        await store.ledgerCreated(id, 'mount', `/mnt/${id}`);
        await store.ledgerSetState(id, 'mount', 'deleted');
        await store.update(id, { state: 'succeeded', finishedAt: new Date().toISOString(), progress: 1 });
      }),
    );
    for (const { id } of claims) {
      const events = await direct.events(id, 0);
      expect(events.map((e) => e.data.progress)).toEqual([0, 1 / 3, 2 / 3, 1]);
      const seqs = events.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect((await direct.ledger(id)).map((e) => [e.key, e.state])).toEqual([
        ['volume', 'live'],
        ['mount', 'deleted'],
      ]);
    }
    expect((await direct.stats(new Date(0).toISOString())).countsByState).toMatchObject({
      succeeded: 10,
      running: 0,
      queued: 0,
    });
    // Every kind of fault happened.
    expect(proxy.counts.throttle).toBeGreaterThan(0);
    expect(proxy.counts['throughput-exceeded']).toBeGreaterThan(0);
    expect(proxy.counts['condition-failed']).toBeGreaterThan(0);
    expect(proxy.counts['lose-answer']).toBeGreaterThan(0);
  }, 120_000);
});
