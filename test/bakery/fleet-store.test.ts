/**
 * The DynamoDB job store as a user meets it, without bakes: `ovenproof bakery init-store` creating
 * the table on moto, `bakery serve --store dynamodb://…` refusing a missing or incomplete table with
 * a config error (exit 3) that names what is missing, and two bakery processes on one table listing
 * each other in `GET /v1/bakeries`. The endpoint reaches the SDK as AWS_ENDPOINT_URL_DYNAMODB.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoEnv, startLocalDynamo, uniqueTable, type LocalDynamo } from '../support/dynamodb.js';
import { MOTO_CREDENTIALS, MOTO_REGION } from '../support/moto.js';
import { api, REPO_ROOT, startBakery, tempDir, tokenFile, type BakeryProcess } from './helpers.js';

let dynamo: LocalDynamo;
let dir: string;
let token: string;

function cli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...dynamoEnv(dynamo.url), OVENPROOF_HOME: join(dir, 'home') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

const storeUrl = (table: string) => `dynamodb://${table}?region=${MOTO_REGION}`;

beforeAll(async () => {
  dynamo = await startLocalDynamo();
  dir = tempDir('fleet-store');
  ({ token } = await tokenFile(dir));
}, 90_000);

afterAll(async () => {
  await dynamo?.stop();
});

describe('bakery init-store and serve --store dynamodb://', () => {
  it('init-store creates the table once, then finds it complete', async () => {
    const table = uniqueTable('init');
    const first = await cli(['bakery', 'init-store', '--store', storeUrl(table)]);
    expect(first.stderr).toContain(`DynamoDB table ${table} created`);
    expect(first.code).toBe(0);
    const again = await cli(['bakery', 'init-store', '--store', storeUrl(table)]);
    expect(again.stderr).toContain(`DynamoDB table ${table} already exists and is complete`);
    expect(again.code).toBe(0);
  }, 60_000);

  it('serve refuses a bad store URL, a missing table and a table without the indexes and TTL (exit 3)', async () => {
    const args = (store: string) => [
      'bakery',
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      join(dir, 'refused'),
      '--token-file',
      join(dir, 'tokens'),
      '--store',
      store,
    ];
    const badUrl = await cli(args('postgres://jobs'));
    expect(badUrl.code).toBe(3);
    expect(badUrl.stderr).toContain('--store: "postgres://jobs" is not a dynamodb:// URL');

    const missing = await cli(args(storeUrl('no-such-table')));
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('--store dynamodb://no-such-table: the table does not exist');
    expect(missing.stderr).toContain('ovenproof bakery init-store --store dynamodb://no-such-table');

    // A table with the right keys but nothing else.
    const bare = uniqueTable('bare');
    const client = new DynamoDBClient({
      region: MOTO_REGION,
      endpoint: dynamo.url,
      credentials: MOTO_CREDENTIALS,
    });
    await client.send(
      new CreateTableCommand({
        TableName: bare,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
      }),
    );
    client.destroy();
    const incomplete = await cli(args(storeUrl(bare)));
    expect(incomplete.code).toBe(3);
    expect(incomplete.stderr).toContain(`--store dynamodb://${bare}: the table lacks`);
    expect(incomplete.stderr).toContain('global secondary index state-index (gsiState HASH, gsiTime RANGE)');
    expect(incomplete.stderr).toContain(
      'global secondary index bakekey-index (bakeKey HASH, createdAt RANGE)',
    );
    expect(incomplete.stderr).toContain('time to live on attribute expiresAt');
  }, 120_000);

  it('lists every bakery of the store in GET /v1/bakeries; a stopped one leaves the list', async () => {
    const table = uniqueTable('fleet');
    expect((await cli(['bakery', 'init-store', '--store', storeUrl(table)])).code).toBe(0);
    const env = { ...dynamoEnv(dynamo.url), OVENPROOF_HOME: join(dir, 'home') };
    const started: BakeryProcess[] = [];
    try {
      for (const name of ['a', 'b'])
        started.push(
          await startBakery(
            [
              '--data-dir',
              join(dir, `data-${name}`),
              '--token-file',
              join(dir, 'tokens'),
              '--store',
              storeUrl(table),
            ],
            env,
          ),
        );
      const [a, b] = started as [BakeryProcess, BakeryProcess];
      const listed = (await api(a.url, token, '/v1/bakeries')).body.bakeries as Array<{
        url: string;
        live: boolean;
        provider: string;
        region: string | null;
      }>;
      expect(listed.map((r) => r.url).sort()).toEqual([a.url, b.url].sort());
      expect(listed.every((r) => r.live && r.provider === 'local' && r.region === null)).toBe(true);
      expect(await b.stop()).toBe(0);
      started.pop();
      const after = (await api(a.url, token, '/v1/bakeries')).body.bakeries as Array<{ url: string }>;
      expect(after.map((r) => r.url)).toEqual([a.url]);
    } finally {
      for (const bakery of started) await bakery.stop();
    }
  }, 120_000);

  it('a bakery on its SQLite file lists itself alone', async () => {
    const bakery = await startBakery(
      ['--data-dir', join(dir, 'sqlite'), '--token-file', join(dir, 'tokens')],
      {
        OVENPROOF_HOME: join(dir, 'home'),
      },
    );
    try {
      const listed = (await api(bakery.url, token, '/v1/bakeries')).body.bakeries as Array<{ url: string }>;
      expect(listed.map((r) => r.url)).toEqual([bakery.url]);
    } finally {
      expect(await bakery.stop()).toBe(0);
    }
  }, 60_000);
});
