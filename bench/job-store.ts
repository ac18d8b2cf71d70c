/**
 * The bakery's job store: how fast a queued job is claimed, on the SQLite file of one bakery vs a
 * DynamoDB table on moto's server (through the one-request-at-a-time proxy the tests use, which gives
 * moto DynamoDB's atomic conditional writes), side by side in one run, rounds alternating which goes
 * first:
 *  1. claim latency: one claimer takes `--jobs` queued jobs one after another (p50/p95 per claim);
 *  2. throughput: `--claimers` store handles (bakeries) claim `--jobs` queued jobs at once (jobs/s,
 *     and a check that no job was claimed twice or lost).
 * No root, no VM; only 127.0.0.1.
 *
 *   npx tsx bench/job-store.ts [--jobs 100] [--claimers 4] [--rounds 2]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BakeJob } from '../src/bakery/model.js';
import { SqliteJobStore } from '../src/bakery/sqlite-store.js';
import type { JobStore } from '../src/bakery/store.js';
import { dynamoStore, startLocalDynamo, uniqueTable } from '../test/support/dynamodb.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '100' },
    claimers: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '2' },
  },
});
const jobCount = Number(values.jobs);
const claimerCount = Number(values.claimers);
const rounds = Number(values.rounds);

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

let serial = 0;
function job(): BakeJob {
  serial++;
  return {
    id: `bk-bench-${serial}`,
    state: 'queued',
    bakeKey: `bench-key-${serial}-${Math.random().toString(16).slice(2)}`,
    request: { baseImage: 'img-base', packages: ['curl'], files: [] },
    requestedBy: 'token:bench',
    step: null,
    progress: 0,
    image: null,
    error: null,
    cacheHit: false,
    durationsMs: {},
    createdAt: new Date(Date.UTC(2026, 0, 1) + serial).toISOString(),
    startedAt: null,
    finishedAt: null,
    heartbeatAt: null,
    owner: null,
  };
}

interface Flavour {
  name: string;
  /** `count` handles on one fresh, empty store. */
  open(count: number): Promise<JobStore[]>;
}

const dir = mkdtempSync(join(tmpdir(), 'ovenproof-bench-store-'));
const dynamo = await startLocalDynamo();
const flavours: Flavour[] = [
  {
    name: 'sqlite',
    async open(count) {
      const path = join(dir, `jobs-${serial}.sqlite`);
      return Array.from({ length: count }, () => new SqliteJobStore(path));
    },
  },
  {
    name: 'dynamodb-on-moto',
    async open(count) {
      const table = uniqueTable('bench');
      const stores = Array.from({ length: count }, () => dynamoStore(dynamo.url, table));
      await stores[0]!.createTable();
      return stores;
    },
  },
];

interface Figures {
  claimMs: number[];
  jobsPerSecond: number[];
}
const figures = new Map<string, Figures>(flavours.map((f) => [f.name, { claimMs: [], jobsPerSecond: [] }]));

async function measure(flavour: Flavour): Promise<void> {
  const stores = await flavour.open(claimerCount);
  const first = stores[0]!;
  const out = figures.get(flavour.name)!;
  try {
    // 1. Latency: one claimer, one claim at a time.
    for (let i = 0; i < jobCount; i++) await first.insertUnlessActive(job());
    for (let i = 0; i < jobCount; i++) {
      const t0 = performance.now();
      const claimed = await first.claimNext('bench-solo', new Date().toISOString());
      out.claimMs.push(performance.now() - t0);
      if (!claimed) throw new Error(`${flavour.name}: claim ${i + 1} of ${jobCount} found no queued job`);
    }
    // 2. Throughput: every handle claims until the queue is empty.
    for (let i = 0; i < jobCount; i++) await first.insertUnlessActive(job());
    const claimed: string[] = [];
    const t0 = performance.now();
    await Promise.all(
      stores.map(async (store, s) => {
        for (;;) {
          const next = await store.claimNext(`bench-${s}`, new Date().toISOString());
          if (!next) return;
          claimed.push(next.id);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    if (claimed.length !== jobCount || new Set(claimed).size !== jobCount)
      throw new Error(
        `${flavour.name}: ${claimed.length} claims, ${new Set(claimed).size} distinct, of ${jobCount} jobs`,
      );
    out.jobsPerSecond.push(jobCount / seconds);
  } finally {
    for (const store of stores) await store.close();
  }
}

try {
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? [...flavours].reverse() : flavours;
    for (const flavour of order) await measure(flavour);
  }
  const rows = flavours.map((f) => {
    const { claimMs, jobsPerSecond } = figures.get(f.name)!;
    const rate = jobsPerSecond.reduce((a, b) => a + b, 0) / jobsPerSecond.length;
    return { name: f.name, p50: percentile(claimMs, 50), p95: percentile(claimMs, 95), rate };
  });
  for (const r of rows)
    console.log(
      `${r.name.padEnd(18)} claim p50 ${r.p50.toFixed(2)} ms  p95 ${r.p95.toFixed(2)} ms  throughput ${r.rate.toFixed(0)} jobs/s (${claimerCount} claimers)`,
    );
  const [sqlite, dynamoRow] = rows as [(typeof rows)[0], (typeof rows)[0]];
  console.log(
    `job-store: claim p50 sqlite ${sqlite.p50.toFixed(2)} ms vs dynamodb-on-moto ${dynamoRow.p50.toFixed(2)} ms (x${(dynamoRow.p50 / sqlite.p50).toFixed(0)}); throughput sqlite ${sqlite.rate.toFixed(0)} vs dynamodb-on-moto ${dynamoRow.rate.toFixed(0)} jobs/s with ${claimerCount} claimers (${jobCount} jobs, ${rounds} rounds, no job claimed twice or lost)`,
  );
} finally {
  await dynamo.stop();
  rmSync(dir, { recursive: true, force: true });
}
