/**
 * The bakery's HTTP API on Fastify: JSON bodies validated by JSON schema, bearer-token auth on every
 * route but `/healthz` and the dashboard page, errors as `{error:{code,message}}`, uploads streamed to
 * disk, and bake events as Server-Sent Events that replay what already happened to a late client.
 */
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { AuthError, type Authenticator, type Principal } from './auth.js';
import { DASHBOARD_HTML } from './dashboard.js';
import { FileTooLargeError, SHA256_PATTERN, type FileStore } from './files.js';
import { registerPromoteRoute } from './promote-route.js';
import { publicJob, type BakeEvent, type BakeRequestBody, type BakeState } from './model.js';
import { RequestError, type Bakery } from './service.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export interface ServerOptions {
  bakery: Bakery;
  auth: Authenticator;
  files: FileStore;
  /** The window of `GET /v1/stats`. */
  statsWindowMs: number;
  /** One JSON object per line (pino), shared with the job runner's log. */
  loggerInstance: FastifyBaseLogger;
}

const BAKE_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['baseImage'],
  properties: {
    baseImage: { type: 'string', minLength: 1, maxLength: 512 },
    packages: {
      type: 'array',
      maxItems: 500,
      items: { type: 'string', minLength: 1, maxLength: 256 },
      default: [],
    },
    files: {
      type: 'array',
      maxItems: 100,
      items: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      default: [],
    },
    provisionScript: { type: 'string', maxLength: 65_536 },
    strategy: { type: 'string', enum: ['auto', 'volume', 'instance'] },
    region: { type: 'string', minLength: 1, maxLength: 64 },
    forwardedBy: { type: 'string', minLength: 1, maxLength: 64 },
  },
} as const;

const STATES: BakeState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({ error: { code, message } });
}

function sseFrame(event: BakeEvent): string {
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify({ ...event.data, at: event.at })}\n\n`;
}

function handleError(error: FastifyError, reply: FastifyReply): FastifyReply {
  if (error instanceof AuthError)
    return sendError(reply, error.status, error.status === 401 ? 'unauthorized' : 'forbidden', error.message);
  if (error instanceof RequestError) return sendError(reply, error.status, error.code, error.message);
  if (error instanceof FileTooLargeError) {
    reply.header('connection', 'close');
    return sendError(reply, 413, 'too_large', error.message);
  }
  if (error.validation) {
    const first = error.validation[0];
    const field = first?.instancePath
      ? first.instancePath.slice(1).replace(/\//g, '.')
      : ((first?.params as { missingProperty?: string } | undefined)?.missingProperty ??
        (first?.params as { additionalProperty?: string } | undefined)?.additionalProperty);
    return sendError(
      reply,
      400,
      'invalid_request',
      `${error.validationContext ?? 'body'}${field ? `.${field}` : ''}: ${first?.message ?? error.message}`,
    );
  }
  if (error.name === 'ConfigError') return sendError(reply, 400, 'invalid_request', error.message);
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500)
    return sendError(reply, error.statusCode, error.code ?? 'bad_request', error.message);
  reply.log.error({ err: error }, 'request failed');
  return sendError(reply, 500, 'internal', error.message);
}

/** Uploads: streamed to the file store, refused early on a declared length above the limit. */
function registerFileRoutes(app: FastifyInstance, files: FileStore): void {
  app.post('/v1/files', { bodyLimit: Number.MAX_SAFE_INTEGER }, async (request, reply) => {
    const type = request.headers['content-type'] ?? '';
    if (!type.startsWith('application/octet-stream'))
      return sendError(
        reply,
        400,
        'invalid_request',
        'Content-Type: send the file as application/octet-stream',
      );
    const declared = Number(request.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > files.maxBytes) {
      // Refused before a byte is read; closing the connection stops the sender.
      reply.header('connection', 'close');
      return sendError(
        reply,
        413,
        'too_large',
        `file of ${declared} bytes is larger than the limit of ${files.maxBytes} bytes`,
      );
    }
    const stored = await files.put(request.raw);
    return reply.code(201).send(stored);
  });

  app.head<{ Params: { sha256: string } }>('/v1/files/:sha256', async (request, reply) => {
    const { sha256 } = request.params;
    if (!SHA256_PATTERN.test(sha256)) return reply.code(400).send();
    return reply.code((await files.pathOf(sha256)) ? 200 : 404).send();
  });
}

function registerBakeRoutes(app: FastifyInstance, bakery: Bakery, statsWindowMs: number): void {
  app.post<{ Body: BakeRequestBody }>(
    '/v1/bakes',
    { schema: { body: BAKE_BODY } },
    async (request, reply) => {
      const { job, created } = await bakery.submit(request.body, request.principal!.requestedBy);
      return reply.code(created ? 202 : 200).send(publicJob(job));
    },
  );

  app.get<{ Querystring: { state?: BakeState; limit?: string } }>(
    '/v1/bakes',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            state: { type: 'string', enum: STATES },
            // Query values arrive as text; bodies are validated without type coercion.
            limit: { type: 'string', pattern: '^(?:[1-9][0-9]{0,2}|1000)$' },
          },
        },
      },
    },
    async (request) => {
      const jobs = await bakery.store.list({
        limit: Number(request.query.limit ?? 50),
        ...(request.query.state ? { state: request.query.state } : {}),
      });
      return { bakes: jobs.map(publicJob) };
    },
  );

  app.get<{ Params: { id: string } }>('/v1/bakes/:id', async (request, reply) => {
    const job = await bakery.store.get(request.params.id);
    if (!job) return sendError(reply, 404, 'not_found', `no bake ${request.params.id}`);
    return publicJob(job);
  });

  app.delete<{ Params: { id: string } }>('/v1/bakes/:id', async (request) =>
    publicJob(await bakery.cancel(request.params.id)),
  );

  app.get('/v1/images', async () => ({ images: await bakery.executor.listImages() }));

  app.get('/v1/stats', async () => bakery.store.stats(new Date(Date.now() - statsWindowMs).toISOString()));

  app.get('/v1/bakeries', async () => ({ bakeries: await bakery.bakeries() }));
}

/** Bake events as Server-Sent Events: what the store has first, then live ones, until `done`. */
function registerEventStream(app: FastifyInstance, bakery: Bakery, openStreams: Set<FastifyReply>): void {
  app.get<{ Params: { id: string } }>('/v1/bakes/:id/events', async (request, reply) => {
    const { id } = request.params;
    const job = await bakery.store.get(id);
    if (!job) return sendError(reply, 404, 'not_found', `no bake ${id}`);
    const lastHeader = request.headers['last-event-id'];
    const after = Number(Array.isArray(lastHeader) ? lastHeader[0] : lastHeader) || 0;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    openStreams.add(reply);
    let sent = after;
    let finished = false;
    const end = () => {
      if (finished) return;
      finished = true;
      unsubscribe();
      clearInterval(keepAlive);
      openStreams.delete(reply);
      raw.end();
    };
    const write = (event: BakeEvent) => {
      if (finished || event.seq <= sent) return;
      sent = event.seq;
      raw.write(sseFrame(event));
      if (event.type === 'done') end();
    };
    // Subscribe first and replay second, so that nothing emitted in between is lost (seq dedupes).
    const buffered: BakeEvent[] = [];
    let replaying = true;
    const unsubscribe = bakery.subscribe(id, (event) => (replaying ? buffered.push(event) : write(event)));
    const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
    request.raw.on('close', end);
    for (const event of await bakery.store.events(id, after)) write(event);
    replaying = false;
    for (const event of buffered) write(event);
  });
}

export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const { bakery, auth, files } = options;
  const app = Fastify({
    loggerInstance: options.loggerInstance,
    // Status polls and event streams would flood the log: requests are logged by the hook below.
    disableRequestLogging: true,
    // Uploads are checked against the file store's own limit while they stream; JSON bodies stay small.
    bodyLimit: 1_048_576,
    ajv: {
      customOptions: { removeAdditional: false, useDefaults: true, coerceTypes: false, allErrors: false },
    },
  });
  const openStreams = new Set<FastifyReply>();

  app.decorateRequest('principal', null);
  // The upload route reads the raw request stream itself: nothing is buffered in memory.
  app.addContentTypeParser('application/octet-stream', (_request, _payload, done) => done(null, undefined));

  app.setErrorHandler((error: FastifyError, _request, reply) => handleError(error, reply));
  // One line per request that changes something or failed; successful reads stay quiet.
  app.addHook('onResponse', async (request, reply) => {
    if (request.method === 'GET' && reply.statusCode < 400) return;
    request.log.info(
      {
        method: request.method,
        url: request.url,
        statusCode: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'not_found', `no route ${request.method} ${request.url}`),
  );

  app.addHook('onRequest', async (request: FastifyRequest) => {
    const path = request.url.split('?')[0];
    if (path === '/healthz' || path === '/' || path === '/favicon.ico') return;
    request.principal = await auth.authenticate(request.headers.authorization);
  });

  // A load balancer stops sending requests to a bakery that is shutting down (503) while it drains.
  app.get('/healthz', async (_request, reply) =>
    bakery.shuttingDown ? reply.code(503).send({ ok: false, stopping: true }) : { ok: true },
  );
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(DASHBOARD_HTML));

  registerFileRoutes(app, files);
  registerBakeRoutes(app, bakery, options.statsWindowMs);
  registerEventStream(app, bakery, openStreams);
  registerPromoteRoute(app, bakery);

  app.addHook('preClose', async () => {
    for (const reply of openStreams) reply.raw.end();
  });
  return app;
}
