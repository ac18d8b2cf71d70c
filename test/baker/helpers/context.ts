/** A RunContext backed by a real ledger file, for bake tests and the bake child process. */
import { randomBytes } from 'node:crypto';
import { Ledger } from '../../../src/pipeline/ledger.js';
import type { Logger, Progress } from '../../../src/common/log.js';
import type { RunContext } from '../../../src/providers/provider.js';

export interface TestContext {
  ctx: RunContext;
  ledger: Ledger;
  labels: string[];
  controller: AbortController;
}

export const stderrLogger: Logger = {
  info: (m) => process.stderr.write(`info: ${m}\n`),
  warn: (m) => process.stderr.write(`warn: ${m}\n`),
  debug: (m) => (process.env.OVENPROOF_TEST_DEBUG ? process.stderr.write(`debug: ${m}\n`) : undefined),
  mask: () => undefined,
};

export async function testContext(
  ledgerPath: string,
  options: { expiresInMs?: number; log?: Logger; onProgress?: (p: Progress) => void } = {},
): Promise<TestContext> {
  const runId = `test-${randomBytes(4).toString('hex')}`;
  const ledger = await Ledger.create(ledgerPath, runId);
  const labels: string[] = [];
  const controller = new AbortController();
  const ctx: RunContext = {
    runId,
    expiresAt: new Date(Date.now() + (options.expiresInMs ?? 3_600_000)),
    journal: ledger,
    signal: controller.signal,
    log: options.log ?? stderrLogger,
    progress: (p) => {
      if (labels.at(-1) !== p.label) labels.push(p.label);
      options.onProgress?.(p);
    },
    tags: { 'ovenproof:test': 'baker' },
  };
  return { ctx, ledger, labels, controller };
}
