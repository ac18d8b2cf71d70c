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

export function registerPromoteRoute(app: FastifyInstance, bakery: Bakery): void {
  app.post<{ Params: { id: string }; Body: { tested?: 'passed' | 'failed'; regions: string[] } }>(
    '/v1/bakes/:id/promote',
    { schema: { body: PROMOTE_BODY } },
    async (request) => {
      const options: PromoteOptions = { tested: request.body.tested ?? null, regions: request.body.regions };
      const { job, copies } = await bakery.promote(request.params.id, options);
      return { bake: publicJob(job), copies };
    },
  );
}
