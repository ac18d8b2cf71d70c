/**
 * `POST /v1/bakes/:id/promote {tested?, regions?}`: a pipeline whose keep-image says so promotes the
 * image a bakery baked for it (tagged kept, never pruned or swept) and has it copied to its extra
 * `regions` by the bakery of the image's home region; a bakery that relayed the bake passes the call to
 * that peer. Answers `{bake, copies:[{region, id}]}`; promoting again is harmless (copies are made with
 * the same idempotency token, so EC2 returns the same copy).
 */
import type { FastifyInstance } from 'fastify';
import { publicJob } from './model.js';
import type { PromoteOptions } from './executor.js';
import type { Bakery } from './service.js';

const PROMOTE_BODY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tested: { type: 'string', enum: ['passed', 'failed'] },
    regions: {
      type: 'array',
      maxItems: 30,
      items: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' },
      default: [],
    },
  },
} as const;

/** How long a promotion may take before the answer starts as a stream (headers now, body at the end). */
const QUICK_ANSWER_MS = 2_000;
const KEEP_ALIVE_MS = 15_000;

export function registerPromoteRoute(app: FastifyInstance, bakery: Bakery): void {
  app.post<{ Params: { id: string }; Body: { tested?: 'passed' | 'failed'; regions: string[] } }>(
    '/v1/bakes/:id/promote',
    { schema: { body: PROMOTE_BODY } },
    async (request, reply) => {
      const options: PromoteOptions = { tested: request.body.tested ?? null, regions: request.body.regions };
      const work = bakery.promote(request.params.id, options).then(({ job, copies }) => ({
        bake: publicJob(job),
        copies,
      }));
      const quick = await Promise.race([
        work.then((answer) => ({ answer })),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), QUICK_ANSWER_MS).unref()),
      ]);
      if (quick) return quick.answer;
      // Copies to other regions take minutes: answer 200 now and keep the connection busy with
      // whitespace (valid before a JSON value), so neither the client's wait for headers nor a load
      // balancer's idle timeout cuts it; a failure from here on is an `{error}` body.
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' });
      const keepAlive = setInterval(() => raw.write(' '), KEEP_ALIVE_MS);
      try {
        raw.end(JSON.stringify(await work));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        raw.end(JSON.stringify({ error: { code: 'promote_failed', message } }));
      } finally {
        clearInterval(keepAlive);
      }
    },
  );
}
