/**
 * A real bake in its own process, for the kill and concurrency tests. Configuration comes as one JSON
 * argument; progress labels and the hold point go to stdout as lines:
 *   PROGRESS <label>          for every progress label
 *   HOLD <step>               the bake is paused after <step> (the test SIGKILLs it now)
 *   DONE <json outcome>       the bake finished
 */
import { bakeImage, type BakeRequest } from '../../../src/baker/index.js';
import { localTestProvider } from '../../support/local-base.js';
import { testContext } from './context.js';

interface ChildConfig {
  ledger: string;
  request: BakeRequest;
  /** Pause forever after this step. */
  holdAfter?: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const say = (line: string) => process.stdout.write(`${line}\n`);
// Keeps the process alive while it holds at a step (an unresolved promise alone would let Node exit).
const keepAlive = setInterval(() => undefined, 60_000);

async function main(): Promise<void> {
  const { ctx } = await testContext(config.ledger, { onProgress: (p) => say(`PROGRESS ${p.label}`) });
  const outcome = await bakeImage(localTestProvider(), config.request, ctx, {
    hook: async (step, phase) => {
      if (phase !== 'end' || step !== config.holdAfter) return;
      say(`HOLD ${step}`);
      await new Promise(() => undefined);
    },
  });
  say(
    `DONE ${JSON.stringify({ imageId: outcome.image.id, cacheHit: outcome.cacheHit, bakeKey: outcome.bakeKey })}`,
  );
  clearInterval(keepAlive);
}

main().catch((error: unknown) => {
  process.stderr.write(`bake failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(2);
});
