/**
 * DynamoDB for the job-store tests: moto's server (started by `startMoto`, which serves every AWS
 * service it knows on one port) behind a proxy, and tables made by the store's own `createTable`.
 *
 * moto's server answers requests on parallel threads without a lock around DynamoDB's conditional
 * writes, so two racing conditional writes can both pass their condition there; DynamoDB itself
 * applies each request atomically. The proxy restores that: it hands moto one request at a time.
 * The clients still race each other freely. The proxy can also inject faults: throttling,
 * conditional-check failures and answers lost after moto acted, the way DynamoDB and a flaky network
 * do. Only 127.0.0.1 is ever contacted.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoJobStore } from '../../src/bakery/dynamodb-store.js';
import { MOTO_CREDENTIALS, MOTO_REGION, startMoto, type Moto } from './moto.js';

/** The environment a bakery process needs to reach the table on moto through the SDK's own settings. */
export function dynamoEnv(endpoint: string): NodeJS.ProcessEnv {
  return {
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
    AWS_REGION: MOTO_REGION,
  };
}

export function uniqueTable(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** A store on `table` at `endpoint`; several of them stand for several bakery processes. */
export function dynamoStore(endpoint: string, table: string): DynamoJobStore {
  return new DynamoJobStore(
    { table, region: MOTO_REGION },
    new DynamoDBClient({
      region: MOTO_REGION,
      endpoint,
      credentials: MOTO_CREDENTIALS,
      maxAttempts: 10,
    }),
  );
}

/** What the fault proxy does with one DynamoDB request. */
export type DynamoFault =
  | 'forward'
  /** Answered 400 ThrottlingException without reaching moto. */
  | 'throttle'
  /** Answered 400 ProvisionedThroughputExceededException without reaching moto. */
  | 'throughput-exceeded'
  /** Answered 400 ConditionalCheckFailedException without reaching moto (a conditional write lost a race). */
  | 'condition-failed'
  /** Forwarded; moto acts on it, and the connection is dropped before the answer reaches the client. */
  | 'lose-answer';

export interface DynamoRequest {
  /** The operation: `UpdateItem`, `TransactWriteItems`, … */
  operation: string;
  body: Record<string, unknown>;
}

export interface DynamoFaultProxy {
  url: string;
  /** How many requests got each fault. */
  counts: Record<DynamoFault, number>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const FAULT_TYPES: Partial<Record<DynamoFault, string>> = {
  throttle: 'ThrottlingException',
  'throughput-exceeded': 'ProvisionedThroughputExceededException',
  'condition-failed': 'ConditionalCheckFailedException',
};

/**
 * A proxy to moto at `target` that forwards one request at a time; `decide` picks the fate of each
 * DynamoDB JSON request (all are forwarded by default).
 */
export async function startDynamoProxy(
  target: string,
  decide: (request: DynamoRequest) => DynamoFault = () => 'forward',
): Promise<DynamoFaultProxy> {
  const upstream = new URL(target);
  const counts: Record<DynamoFault, number> = {
    forward: 0,
    throttle: 0,
    'throughput-exceeded': 0,
    'condition-failed': 0,
    'lose-answer': 0,
  };
  let previous: Promise<void> = Promise.resolve();
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      // Wait for moto to finish the request before this one.
      let finished!: () => void;
      const turn = previous;
      previous = new Promise<void>((resolve) => (finished = resolve));
      await turn;
      res.on('close', finished);
      const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
      const fault = decide({
        operation,
        body: body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {},
      });
      counts[fault]++;
      const errorType = FAULT_TYPES[fault];
      if (errorType) {
        // A transaction reports a failed condition as its cancellation, with a reason per item.
        const transaction = operation === 'TransactWriteItems' && fault === 'condition-failed';
        const items = transaction
          ? ((JSON.parse(body.toString('utf8')) as { TransactItems?: unknown[] }).TransactItems ?? [])
          : [];
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(
          JSON.stringify({
            __type: `com.amazonaws.dynamodb.v20120810#${transaction ? 'TransactionCanceledException' : errorType}`,
            message: `injected by the test proxy: ${errorType}`,
            ...(transaction
              ? {
                  CancellationReasons: items.map((_, i) => ({
                    Code: i === 0 ? 'ConditionalCheckFailed' : 'None',
                  })),
                }
              : {}),
          }),
        );
        return;
      }
      const forwarded = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          if (fault === 'lose-answer') {
            answer.resume();
            answer.on('end', () => {
              req.socket.destroy();
              finished();
            });
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forwarded.on('error', () => {
        req.socket.destroy();
        finished();
      });
      forwarded.end(body);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface LocalDynamo {
  moto: Moto;
  /** The endpoint the stores and bakeries use: moto behind the one-request-at-a-time proxy. */
  url: string;
  stop(): Promise<void>;
}

/** moto's server and the proxy that gives its DynamoDB the atomic requests of the real one. */
export async function startLocalDynamo(): Promise<LocalDynamo> {
  const moto = await startMoto();
  const proxy = await startDynamoProxy(moto.url);
  return {
    moto,
    url: proxy.url,
    async stop() {
      await proxy.close();
      await moto.stop();
    },
  };
}
