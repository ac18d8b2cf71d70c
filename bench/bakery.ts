/**
 * The bakery under load, against one real bakery process (local provider, needs root and the cached
 * base image):
 *  1. 20 clients ask for the same bake at the same moment: how many bakes and images result (must be
 *     one), and the p50/p95 time to the answer (the key is computed per request, the job is shared);
 *  2. 200 status polls per second (GET /v1/bakes/:id, token-authenticated, SQLite read) for a minute,
 *     side by side with 10/s of the unauthenticated /healthz as the server's floor: p50/p95 latency,
 *     errors, and the p95 ratio poll/healthz.
 *
 *   npx tsx bench/bakery.ts [--clients 20] [--rate 200] [--seconds 60]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBaseImage, localTestProvider } from '../test/support/local-base.js';
import { testContext } from '../test/baker/helpers/context.js';
import { buildMarkerDeb } from '../test/baker/helpers/test-deb.js';
import { api, readEvents, startBakery, tempDir, tokenFile } from '../test/bakery/helpers.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '20' },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '60' },
  },
});
const clients = Number(values.clients);
const rate = Number(values.rate);
const seconds = Number(values.seconds);

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}
const ms = (value: number) => `${value.toFixed(1)} ms`;

const dir = tempDir('bench-bakery');
const base = await ensureBaseImage();
const { token } = await tokenFile(dir, 'bench');
const bakery = await startBakery(['--data-dir', join(dir, 'data'), '--token-file', join(dir, 'tokens')]);
let imageId: string | null = null;
try {
  const upload = await api(bakery.url, token, '/v1/files', {
    method: 'POST',
    body: readFileSync(buildMarkerDeb(dir)),
    headers: { 'content-type': 'application/octet-stream' },
  });
  const body = JSON.stringify({
    baseImage: base.id,
    files: [upload.body.sha256],
    provisionScript: `# bench ${Date.now()}\ntrue`,
  });

  // 1. The same bake from `clients` clients at once.
  const answers = await Promise.all(
    Array.from({ length: clients }, async () => {
      const t0 = performance.now();
      const response = await api(bakery.url, token, '/v1/bakes', { method: 'POST', body });
      return { ms: performance.now() - t0, status: response.status, id: response.body.id as string };
    }),
  );
  const ids = new Set(answers.map((a) => a.id));
  const done = (await readEvents(bakery.url, token, [...ids][0]!)).at(-1)!;
  imageId = done.data.bake.image?.id ?? null;
  const images = (await api(bakery.url, token, '/v1/images')).body.images.filter(
    (i: { bakeKey: string }) => i.bakeKey === done.data.bake.bakeKey,
  );
  const answerMs = answers.map((a) => a.ms);
  console.log(`same bake from ${clients} clients at once:`);
  console.log(
    `  answers: ${answers.filter((a) => a.status === 202).length}×202, ${answers.filter((a) => a.status === 200).length}×200, other ${answers.filter((a) => a.status >= 300).length}`,
  );
  console.log(
    `  distinct bakes: ${ids.size}, images with the key: ${images.length}, outcome: ${done.data.bake.state}`,
  );
  console.log(
    `  answer time p50 ${ms(percentile(answerMs, 50))}, p95 ${ms(percentile(answerMs, 95))}, max ${ms(Math.max(...answerMs))}`,
  );

  // 2. Open-loop polling: requests start on schedule whether or not earlier ones answered.
  const bakeId = [...ids][0]!;
  const poll: number[] = [];
  const floor: number[] = [];
  let errors = 0;
  const errorKinds = new Map<string, number>();
  const countError = (kind: string) => {
    errors++;
    errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
  };
  const inFlight: Promise<void>[] = [];
  const shoot = (path: string, auth: boolean, into: number[]) => {
    const t0 = performance.now();
    inFlight.push(
      fetch(`${bakery.url}${path}`, auth ? { headers: { authorization: `Bearer ${token}` } } : {})
        .then(async (response) => {
          await response.arrayBuffer();
          if (response.status !== 200) countError(`HTTP ${response.status}`);
          else into.push(performance.now() - t0);
        })
        .catch((error: Error & { cause?: { code?: string } }) =>
          countError(error.cause?.code ?? error.message),
        ),
    );
  };
  const start = performance.now();
  let sent = 0;
  let sentFloor = 0;
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    for (; sent < due; sent++) shoot(`/v1/bakes/${bakeId}`, true, poll);
    const dueFloor = Math.floor(((performance.now() - start) / 1000) * 10);
    for (; sentFloor < dueFloor; sentFloor++) shoot('/healthz', false, floor);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - start) / 1000;
  console.log(
    `status polls at ${rate}/s for ${seconds} s (${sent} sent, ${(poll.length / elapsed).toFixed(0)}/s answered):`,
  );
  console.log(
    `  GET /v1/bakes/:id p50 ${ms(percentile(poll, 50))}, p95 ${ms(percentile(poll, 95))}, max ${ms(Math.max(...poll))}`,
  );
  console.log(
    `  GET /healthz (floor, 10/s) p50 ${ms(percentile(floor, 50))}, p95 ${ms(percentile(floor, 95))}`,
  );
  console.log(
    `  errors: ${errors}${errors ? ` (${[...errorKinds].map(([k, n]) => `${k}: ${n}`).join(', ')})` : ''}`,
  );
  console.log(
    `RESULT bakery: ${clients} clients same bake → ${ids.size} bake, ${images.length} image, answer p95 ${ms(percentile(answerMs, 95))}; ` +
      `${rate} polls/s × ${seconds} s → p95 ${ms(percentile(poll, 95))} (${(percentile(poll, 95) / percentile(floor, 95)).toFixed(2)}× /healthz p95), errors ${errors}`,
  );
} finally {
  await bakery.stop();
  if (imageId) {
    const { ctx } = await testContext(join(dir, 'cleanup-ledger.json'));
    await localTestProvider()
      .deregisterImage(ctx, imageId)
      .catch(() => undefined);
  }
}
