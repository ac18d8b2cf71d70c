/**
 * The job store of a fleet: one DynamoDB table that every bakery of the fleet reads and writes. The
 * table holds four kinds of items under a string partition key `pk` and sort key `sk`:
 *
 * - a job: `pk = job#ID`, `sk = job`, its resource ledger inside it (a JSON list with a version used
 *   for optimistic writes), `eventSeq` counting its events;
 * - an event of a job: `pk = job#ID`, `sk = event#0000000042`;
 * - the bake-key claim: `pk = bakekey#KEY`, `sk = active`, naming the job that holds the key: a new job
 *   for the key is written in one transaction with a conditional replacement of this item, so two
 *   bakeries never queue the same bake;
 * - a bakery: `pk = bakery#OWNER`, `sk = bakery`, with its region, URL and heartbeat.
 *
 * Index `state-index` (`gsiState`, `gsiTime`) lists jobs by state in creation order (`job#queued`…)
 * and the bakeries by heartbeat (`bakery`); index `bakekey-index` (`bakeKey`, `createdAt`) finds a
 * key's succeeded jobs. Finished jobs, events and bakeries carry `expiresAt` (epoch seconds), the
 * table's TTL attribute. Indexes are eventually consistent: a state read there is re-checked by a
 * conditional write on the item itself.
 *
 * Every write can be repeated by the SDK after a lost answer or throttling: a conditional write that
 * fails is read back, and counts as done when the item shows this very write (its owner and time, or
 * its write token).
 */
import { randomBytes } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  TransactionCanceledException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  type GlobalSecondaryIndexDescription,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  DeleteCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { ConfigError } from '../common/errors.js';
import type { ProviderName, ResourceKind } from '../providers/provider.js';
import {
  FINAL_STATES,
  type BakeEvent,
  type BakeEventType,
  type BakeJob,
  type BakeState,
  type JobLedgerEntry,
} from './model.js';
import {
  summarizeStats,
  type BakeryRecord,
  type JobListQuery,
  type JobStats,
  type JobStore,
} from './store.js';

const STATES: readonly BakeState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
const STATE_INDEX = 'state-index';
const BAKEKEY_INDEX = 'bakekey-index';
export const TTL_ATTRIBUTE = 'expiresAt';
/** How long a finished job (with its events and ledger) stays in the table before TTL removes it. */
const RETENTION_S = 90 * 86_400;
/** A bakery's record outlives its last heartbeat by this much, so that the dashboard shows it as gone. */
const BAKERY_RETENTION_S = 86_400;
/** Queued jobs read per index query when claiming. */
const CLAIM_PAGE = 10;

/** Where `--store dynamodb://TABLE?region=R` points. */
export interface DynamoStoreLocation {
  table: string;
  region: string | null;
}

export function parseDynamoStoreUrl(text: string): DynamoStoreLocation {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`--store: "${text}" is not a URL (use dynamodb://TABLE?region=R)`);
  }
  if (url.protocol !== 'dynamodb:')
    throw new ConfigError(`--store: "${text}" is not a dynamodb:// URL (use dynamodb://TABLE?region=R)`);
  const table = decodeURIComponent(url.hostname || url.pathname.replace(/^\/+/, ''));
  if (!/^[A-Za-z0-9_.-]{3,255}$/.test(table))
    throw new ConfigError(
      `--store: "${table}" is not a DynamoDB table name (3-255 letters, digits, "_", "-", ".")`,
    );
  for (const key of url.searchParams.keys())
    if (key !== 'region')
      throw new ConfigError(`--store: unknown parameter "${key}" (only region= is known)`);
  return { table, region: url.searchParams.get('region') };
}

interface JobItem {
  pk: string;
  sk: 'job';
  id: string;
  bakeKey: string;
  jobState: BakeState;
  request: string;
  requestedBy: string;
  step: string | null;
  progress: number;
  image: string | null;
  error: string | null;
  cacheHit: boolean;
  durationsMs: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  heartbeatAt: string | null;
  owner: string | null;
  gsiState: string;
  gsiTime: string;
  ledger?: string;
  ledgerVersion?: number;
  ledgerWrite?: string;
  eventSeq?: number;
  expiresAt?: number;
}

const jobPk = (id: string) => `job#${id}`;
const keyPk = (bakeKey: string) => `bakekey#${bakeKey}`;
const bakeryPk = (id: string) => `bakery#${id}`;
const epochSeconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

function toJob(item: JobItem): BakeJob {
  return {
    id: item.id,
    bakeKey: item.bakeKey,
    state: item.jobState,
    request: JSON.parse(item.request) as BakeJob['request'],
    requestedBy: item.requestedBy,
    step: item.step,
    progress: item.progress,
    image: item.image ? (JSON.parse(item.image) as BakeJob['image']) : null,
    error: item.error ? { message: item.error } : null,
    cacheHit: item.cacheHit,
    durationsMs: JSON.parse(item.durationsMs) as Record<string, number>,
    createdAt: item.createdAt,
    startedAt: item.startedAt,
    finishedAt: item.finishedAt,
    heartbeatAt: item.heartbeatAt,
    owner: item.owner,
  };
}

/** Attribute values of the job fields that `update` may change. */
function attributesOf(patch: Partial<BakeJob>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  if (patch.state !== undefined) {
    values.jobState = patch.state;
    values.gsiState = `job#${patch.state}`;
  }
  if (patch.requestedBy !== undefined) values.requestedBy = patch.requestedBy;
  if (patch.step !== undefined) values.step = patch.step;
  if (patch.progress !== undefined) values.progress = patch.progress;
  if (patch.image !== undefined) values.image = patch.image ? JSON.stringify(patch.image) : null;
  if (patch.error !== undefined) values.error = patch.error?.message ?? null;
  if (patch.cacheHit !== undefined) values.cacheHit = patch.cacheHit;
  if (patch.durationsMs !== undefined) values.durationsMs = JSON.stringify(patch.durationsMs);
  if (patch.startedAt !== undefined) values.startedAt = patch.startedAt;
  if (patch.finishedAt !== undefined) values.finishedAt = patch.finishedAt;
  if (patch.heartbeatAt !== undefined) values.heartbeatAt = patch.heartbeatAt;
  if (patch.owner !== undefined) values.owner = patch.owner;
  if (patch.state && FINAL_STATES.includes(patch.state))
    values[TTL_ATTRIBUTE] = epochSeconds(patch.finishedAt ?? new Date().toISOString()) + RETENTION_S;
  return values;
}

function isConditionFailure(error: unknown): boolean {
  return error instanceof ConditionalCheckFailedException;
}

function transactionConditionFailed(error: unknown): boolean {
  return (
    error instanceof TransactionCanceledException &&
    (error.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed')
  );
}

/** The indexes and attributes `init-store` creates and `serve` checks. */
const ATTRIBUTES = [
  { AttributeName: 'pk', AttributeType: 'S' as const },
  { AttributeName: 'sk', AttributeType: 'S' as const },
  { AttributeName: 'gsiState', AttributeType: 'S' as const },
  { AttributeName: 'gsiTime', AttributeType: 'S' as const },
  { AttributeName: 'bakeKey', AttributeType: 'S' as const },
  { AttributeName: 'createdAt', AttributeType: 'S' as const },
];
const INDEXES = [
  { name: STATE_INDEX, hash: 'gsiState', range: 'gsiTime' },
  { name: BAKEKEY_INDEX, hash: 'bakeKey', range: 'createdAt' },
];

export class DynamoJobStore implements JobStore {
  readonly shared = true;
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    readonly location: DynamoStoreLocation,
    readonly client: DynamoDBClient = new DynamoDBClient({
      ...(location.region ? { region: location.region } : {}),
      // Throttled and failed requests are retried with backoff; every write here tolerates a repeat.
      maxAttempts: 10,
    }),
  ) {
    this.doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  private get table(): string {
    return this.location.table;
  }

  /** Creates the table with its indexes and TTL (`bakery init-store`); an existing table is checked. */
  async createTable(): Promise<'created' | 'exists'> {
    let created: 'created' | 'exists' = 'created';
    try {
      await this.client.send(
        new CreateTableCommand({
          TableName: this.table,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: ATTRIBUTES,
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          GlobalSecondaryIndexes: INDEXES.map((index) => ({
            IndexName: index.name,
            KeySchema: [
              { AttributeName: index.hash, KeyType: 'HASH' },
              { AttributeName: index.range, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          })),
        }),
      );
    } catch (error) {
      if ((error as Error).name !== 'ResourceInUseException') throw error;
      created = 'exists';
    }
    await waitUntilTableExists({ client: this.client, maxWaitTime: 300 }, { TableName: this.table });
    const ttl = await this.client.send(new DescribeTimeToLiveCommand({ TableName: this.table }));
    if (ttl.TimeToLiveDescription?.TimeToLiveStatus !== 'ENABLED')
      await this.client.send(
        new UpdateTimeToLiveCommand({
          TableName: this.table,
          TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
        }),
      );
    await this.check();
    return created;
  }

  /** Checks that the table has the keys, indexes and TTL this store needs; a ConfigError names what lacks. */
  async check(): Promise<void> {
    const where = `--store dynamodb://${this.table}`;
    const fix = `create it with: ovenproof bakery init-store --store dynamodb://${this.table}${
      this.location.region ? `?region=${this.location.region}` : ''
    }`;
    let table;
    try {
      table = (await this.client.send(new DescribeTableCommand({ TableName: this.table }))).Table;
    } catch (error) {
      if (error instanceof ResourceNotFoundException)
        throw new ConfigError(`${where}: the table does not exist; ${fix}`);
      throw new ConfigError(`${where}: cannot read the table: ${(error as Error).message}`);
    }
    const missing: string[] = [];
    const keyOf = (schema: Array<{ AttributeName?: string; KeyType?: string }> | undefined) =>
      (schema ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`).join(',');
    if (keyOf(table?.KeySchema) !== 'pk:HASH,sk:RANGE')
      missing.push('key schema pk (HASH, string) + sk (RANGE, string)');
    for (const index of INDEXES) {
      const found = (table?.GlobalSecondaryIndexes ?? []).find(
        (g: GlobalSecondaryIndexDescription) => g.IndexName === index.name,
      );
      if (!found || keyOf(found.KeySchema) !== `${index.hash}:HASH,${index.range}:RANGE`)
        missing.push(`global secondary index ${index.name} (${index.hash} HASH, ${index.range} RANGE)`);
      else if (found.Projection?.ProjectionType !== 'ALL')
        missing.push(`projection ALL on index ${index.name}`);
    }
    const ttl = await this.client.send(new DescribeTimeToLiveCommand({ TableName: this.table }));
    const ttlStatus = ttl.TimeToLiveDescription;
    if (
      !['ENABLED', 'ENABLING'].includes(ttlStatus?.TimeToLiveStatus ?? '') ||
      ttlStatus?.AttributeName !== TTL_ATTRIBUTE
    )
      missing.push(`time to live on attribute ${TTL_ATTRIBUTE}`);
    if (missing.length) throw new ConfigError(`${where}: the table lacks ${missing.join('; ')}; ${fix}`);
  }

  private async getItem<T>(pk: string, sk: string): Promise<T | null> {
    const answer = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk, sk }, ConsistentRead: true }),
    );
    return (answer.Item as T | undefined) ?? null;
  }

  private async queryAll(input: Omit<QueryCommandInput, 'TableName'>, limit = Infinity): Promise<unknown[]> {
    const items: unknown[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({ ...input, TableName: this.table, ExclusiveStartKey: start }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start && items.length < limit);
    return items.slice(0, limit);
  }

  private jobsInState(state: BakeState, newestFirst: boolean, limit = Infinity): Promise<JobItem[]> {
    return this.queryAll(
      {
        IndexName: STATE_INDEX,
        KeyConditionExpression: 'gsiState = :s',
        ExpressionAttributeValues: { ':s': `job#${state}` },
        ScanIndexForward: !newestFirst,
        ...(Number.isFinite(limit) ? { Limit: limit } : {}),
      },
      limit,
    ) as Promise<JobItem[]>;
  }

  async insertUnlessActive(job: BakeJob): Promise<{ job: BakeJob; created: boolean }> {
    for (let attempt = 0; ; attempt++) {
      const claim = await this.getItem<{ jobId: string }>(keyPk(job.bakeKey), 'active');
      if (claim) {
        if (claim.jobId === job.id) return { job: (await this.get(job.id))!, created: true };
        const holder = await this.get(claim.jobId);
        if (holder && !FINAL_STATES.includes(holder.state)) return { job: holder, created: false };
        // Its job ended, or is gone (its time to live passed): the key is free for a new job.
      }
      const item: JobItem = {
        pk: jobPk(job.id),
        sk: 'job',
        id: job.id,
        bakeKey: job.bakeKey,
        jobState: job.state,
        request: JSON.stringify(job.request),
        requestedBy: job.requestedBy,
        step: job.step,
        progress: job.progress,
        image: null,
        error: null,
        cacheHit: false,
        durationsMs: '{}',
        createdAt: job.createdAt,
        startedAt: null,
        finishedAt: null,
        heartbeatAt: null,
        owner: null,
        gsiState: `job#${job.state}`,
        gsiTime: job.createdAt,
        ledger: '[]',
        ledgerVersion: 0,
        eventSeq: 0,
      };
      try {
        await this.doc.send(
          new TransactWriteCommand({
            // A repeat of this very transaction within ten minutes is accepted without effect.
            ClientRequestToken: `${job.id}-${attempt}`.slice(-36),
            TransactItems: [
              {
                Put: {
                  TableName: this.table,
                  Item: { pk: keyPk(job.bakeKey), sk: 'active', jobId: job.id },
                  // The key is free, or still names the finished job read above.
                  ConditionExpression: claim ? 'jobId = :previous' : 'attribute_not_exists(pk)',
                  ...(claim ? { ExpressionAttributeValues: { ':previous': claim.jobId } } : {}),
                },
              },
              {
                Put: {
                  TableName: this.table,
                  Item: item,
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
            ],
          }),
        );
        return { job, created: true };
      } catch (error) {
        // Another bakery took the key first (or a repeat of ours did): read the claim again.
        if (!transactionConditionFailed(error)) throw error;
      }
    }
  }

  async latestSucceeded(bakeKey: string): Promise<BakeJob | null> {
    const items = (await this.queryAll({
      IndexName: BAKEKEY_INDEX,
      KeyConditionExpression: 'bakeKey = :k',
      FilterExpression: 'jobState = :s',
      ExpressionAttributeValues: { ':k': bakeKey, ':s': 'succeeded' },
    })) as JobItem[];
    const newest = items
      .filter((i) => i.sk === 'job')
      .sort((a, b) => (b.finishedAt ?? '').localeCompare(a.finishedAt ?? ''))[0];
    return newest ? toJob(newest) : null;
  }

  async get(id: string): Promise<BakeJob | null> {
    const item = await this.getItem<JobItem>(jobPk(id), 'job');
    return item ? toJob(item) : null;
  }

  async list(query: JobListQuery): Promise<BakeJob[]> {
    const states = query.state ? [query.state] : STATES;
    const items = (
      await Promise.all(states.map((state) => this.jobsInState(state, true, query.limit)))
    ).flat();
    return items
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .slice(0, query.limit)
      .map(toJob);
  }

  async update(
    id: string,
    patch: Partial<Omit<BakeJob, 'id' | 'bakeKey' | 'request' | 'createdAt'>>,
  ): Promise<BakeJob> {
    const values = attributesOf(patch);
    const names = Object.keys(values);
    if (names.length === 0) {
      const job = await this.get(id);
      if (!job) throw new Error(`bake ${id} does not exist`);
      return job;
    }
    try {
      const answer = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: jobPk(id), sk: 'job' },
          UpdateExpression: `SET ${names.map((n) => `#${n} = :${n}`).join(', ')}`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: Object.fromEntries(names.map((n) => [`#${n}`, n])),
          ExpressionAttributeValues: Object.fromEntries(names.map((n) => [`:${n}`, values[n]])),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toJob(answer.Attributes as JobItem);
    } catch (error) {
      if (isConditionFailure(error)) throw new Error(`bake ${id} does not exist`, { cause: error });
      throw error;
    }
  }

  /** A conditional update whose repeat (after a lost answer) is recognised by `applied` on the item. */
  private async conditionalUpdate(
    id: string,
    update: { set: Record<string, unknown>; condition: string; values: Record<string, unknown> },
    applied: (item: JobItem) => boolean,
  ): Promise<JobItem | null> {
    const names = Object.keys(update.set);
    try {
      const answer = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: jobPk(id), sk: 'job' },
          UpdateExpression: `SET ${names.map((n) => `#${n} = :set_${n}`).join(', ')}`,
          ConditionExpression: update.condition,
          ExpressionAttributeNames: {
            ...Object.fromEntries(names.map((n) => [`#${n}`, n])),
            ...Object.fromEntries([...update.condition.matchAll(/#(\w+)/g)].map((m) => [`#${m[1]}`, m[1]!])),
          },
          ExpressionAttributeValues: {
            ...Object.fromEntries(names.map((n) => [`:set_${n}`, update.set[n]])),
            ...update.values,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return answer.Attributes as JobItem;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const item = await this.getItem<JobItem>(jobPk(id), 'job');
      return item && applied(item) ? item : null;
    }
  }

  /**
   * Queued jobs, oldest first by page of `CLAIM_PAGE`, read a page at a time (a claim usually needs
   * only the first). Within a page the order is shuffled, so that bakeries claiming at the same
   * moment try different jobs instead of all racing for the oldest one.
   */
  private async *queuedOldestPagesFirst(): AsyncGenerator<JobItem> {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: STATE_INDEX,
          KeyConditionExpression: 'gsiState = :s',
          ExpressionAttributeValues: { ':s': 'job#queued' },
          Limit: CLAIM_PAGE,
          ExclusiveStartKey: start,
        }),
      );
      const items = (page.Items ?? []) as JobItem[];
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [items[i], items[j]] = [items[j]!, items[i]!];
      }
      yield* items;
      start = page.LastEvaluatedKey;
    } while (start);
  }

  async claimNext(
    owner: string,
    now: string,
    accepts: (job: BakeJob) => Promise<boolean> = async () => true,
  ): Promise<BakeJob | null> {
    for await (const item of this.queuedOldestPagesFirst()) {
      const candidate = toJob(item);
      if (!(await accepts(candidate))) continue;
      const claimed = await this.conditionalUpdate(
        item.id,
        {
          set: {
            jobState: 'running',
            gsiState: 'job#running',
            owner,
            startedAt: now,
            heartbeatAt: now,
          },
          condition: '#jobState = :queued',
          values: { ':queued': 'queued' },
        },
        (after) => after.jobState === 'running' && after.owner === owner && after.startedAt === now,
      );
      if (claimed) return toJob(claimed);
    }
    return null;
  }

  async heartbeat(owner: string, ids: readonly string[], now: string): Promise<string[]> {
    const lost: string[] = [];
    for (const id of ids) {
      const renewed = await this.conditionalUpdate(
        id,
        {
          set: { heartbeatAt: now },
          condition: '#owner = :owner AND #jobState = :running',
          values: { ':owner': owner, ':running': 'running' },
        },
        (after) => after.owner === owner && after.jobState === 'running',
      );
      if (!renewed) lost.push(id);
    }
    return lost;
  }

  async orphans(staleBefore: string): Promise<BakeJob[]> {
    return (await this.jobsInState('running', false))
      .filter((item) => item.heartbeatAt === null || item.heartbeatAt < staleBefore)
      .map(toJob);
  }

  async takeOver(orphan: BakeJob, owner: string, now: string): Promise<BakeJob | null> {
    const taken = await this.conditionalUpdate(
      orphan.id,
      {
        set: { owner, heartbeatAt: now },
        condition: '#jobState = :running AND #owner = :owner AND #heartbeatAt = :heartbeat',
        values: { ':running': 'running', ':owner': orphan.owner, ':heartbeat': orphan.heartbeatAt },
      },
      (after) => after.jobState === 'running' && after.owner === owner && after.heartbeatAt === now,
    );
    return taken ? toJob(taken) : null;
  }

  async registerBakery(record: BakeryRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: bakeryPk(record.id),
          sk: 'bakery',
          ...record,
          gsiState: 'bakery',
          gsiTime: record.heartbeatAt,
          [TTL_ATTRIBUTE]: epochSeconds(record.heartbeatAt) + BAKERY_RETENTION_S,
        },
      }),
    );
  }

  async unregisterBakery(id: string): Promise<void> {
    await this.doc.send(
      new DeleteCommand({ TableName: this.table, Key: { pk: bakeryPk(id), sk: 'bakery' } }),
    );
  }

  async bakeries(): Promise<BakeryRecord[]> {
    const items = (await this.queryAll({
      IndexName: STATE_INDEX,
      KeyConditionExpression: 'gsiState = :b',
      ExpressionAttributeValues: { ':b': 'bakery' },
      ScanIndexForward: false,
    })) as Array<BakeryRecord & Record<string, unknown>>;
    return items.map((i) => ({
      id: i.id,
      region: i.region ?? null,
      provider: i.provider,
      url: i.url,
      startedAt: i.startedAt,
      heartbeatAt: i.heartbeatAt,
    }));
  }

  async appendEvent(jobId: string, type: BakeEventType, data: Record<string, unknown>): Promise<BakeEvent> {
    const at = new Date().toISOString();
    // The counter may skip a number when a repeated request counts twice: sequence numbers only need
    // to grow.
    const counted = await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: jobPk(jobId), sk: 'job' },
        UpdateExpression: 'ADD eventSeq :one',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const seq = Number(counted.Attributes?.eventSeq);
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: jobPk(jobId),
          sk: `event#${String(seq).padStart(10, '0')}`,
          seq,
          type,
          data: JSON.stringify(data),
          at,
          [TTL_ATTRIBUTE]: epochSeconds(at) + RETENTION_S,
        },
      }),
    );
    return { seq, type, data, at };
  }

  async events(jobId: string, afterSeq: number): Promise<BakeEvent[]> {
    const items = (await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND sk > :after',
      ExpressionAttributeValues: {
        ':pk': jobPk(jobId),
        ':after': `event#${String(afterSeq).padStart(10, '0')}`,
      },
      ConsistentRead: true,
    })) as Array<{ sk: string; seq: number; type: BakeEventType; data: string; at: string }>;
    return items
      .filter((i) => i.sk.startsWith('event#'))
      .map((i) => ({
        seq: i.seq,
        type: i.type,
        data: JSON.parse(i.data) as Record<string, unknown>,
        at: i.at,
      }));
  }

  /**
   * Changes the job's ledger by `change` with an optimistic write on its version; a write whose
   * answer was lost is recognised by its token.
   */
  private async changeLedger(jobId: string, change: (entries: JobLedgerEntry[]) => JobLedgerEntry[]) {
    for (;;) {
      const item = await this.getItem<JobItem>(jobPk(jobId), 'job');
      if (!item) throw new Error(`bake ${jobId} does not exist`);
      const version = item.ledgerVersion ?? 0;
      const next = change(JSON.parse(item.ledger ?? '[]') as JobLedgerEntry[]);
      const token = randomBytes(8).toString('hex');
      const written = await this.conditionalUpdate(
        jobId,
        {
          set: { ledger: JSON.stringify(next), ledgerVersion: version + 1, ledgerWrite: token },
          condition: '#ledgerVersion = :version',
          values: { ':version': version },
        },
        (after) => after.ledgerWrite === token,
      );
      if (written) return;
    }
  }

  async ledgerIntend(
    jobId: string,
    entry: {
      key: string;
      provider: ProviderName;
      kind: ResourceKind;
      region?: string;
      data?: Record<string, string>;
    },
  ): Promise<void> {
    await this.changeLedger(jobId, (entries) => {
      if (entries.some((e) => e.key === entry.key && e.state !== 'deleted'))
        throw new Error(`ledger of bake ${jobId} already has a live resource with key ${entry.key}`);
      return [
        ...entries,
        {
          key: entry.key,
          provider: entry.provider,
          kind: entry.kind,
          id: null,
          ...(entry.region ? { region: entry.region } : {}),
          state: 'creating',
          createdAt: new Date().toISOString(),
          deletedAt: null,
          data: entry.data ?? {},
        },
      ];
    });
  }

  private static latest(entries: JobLedgerEntry[], jobId: string, key: string): JobLedgerEntry {
    const entry = entries.findLast((e) => e.key === key);
    if (!entry) throw new Error(`ledger of bake ${jobId} has no resource with key ${key}`);
    return entry;
  }

  async ledgerCreated(jobId: string, key: string, id: string, data?: Record<string, string>): Promise<void> {
    await this.changeLedger(jobId, (entries) => {
      const entry = DynamoJobStore.latest(entries, jobId, key);
      entry.id = id;
      entry.data = { ...entry.data, ...data };
      if (entry.state === 'creating') entry.state = 'live';
      return entries;
    });
  }

  async ledgerSetState(jobId: string, key: string, state: 'deleted' | 'kept'): Promise<void> {
    await this.changeLedger(jobId, (entries) => {
      const entry = DynamoJobStore.latest(entries, jobId, key);
      if (state === 'kept' && entry.state === 'deleted')
        throw new Error(`ledger of bake ${jobId}: ${entry.kind} ${entry.id ?? key} is already deleted`);
      entry.state = state;
      entry.deletedAt = state === 'deleted' ? new Date().toISOString() : null;
      return entries;
    });
  }

  async ledger(jobId: string): Promise<JobLedgerEntry[]> {
    const item = await this.getItem<JobItem>(jobPk(jobId), 'job');
    return item ? (JSON.parse(item.ledger ?? '[]') as JobLedgerEntry[]) : [];
  }

  async stats(since: string): Promise<JobStats> {
    const counts = await Promise.all(
      STATES.map(async (state) => {
        let n = 0;
        let start: Record<string, unknown> | undefined;
        do {
          const page = await this.doc.send(
            new QueryCommand({
              TableName: this.table,
              IndexName: STATE_INDEX,
              KeyConditionExpression: 'gsiState = :s',
              ExpressionAttributeValues: { ':s': `job#${state}` },
              Select: 'COUNT',
              ExclusiveStartKey: start,
            }),
          );
          n += page.Count ?? 0;
          start = page.LastEvaluatedKey;
        } while (start);
        return [state, n] as const;
      }),
    );
    const countsByState = Object.fromEntries(counts) as Record<BakeState, number>;
    const recent = (
      (await this.queryAll({
        IndexName: STATE_INDEX,
        KeyConditionExpression: 'gsiState = :s',
        FilterExpression: 'finishedAt >= :since',
        ExpressionAttributeValues: { ':s': 'job#succeeded', ':since': since },
      })) as JobItem[]
    ).map(toJob);
    return summarizeStats(countsByState, recent, since);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
