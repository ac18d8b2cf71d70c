/**
 * Volume bake split into its phases (copy / mount / install / unmount / register …), so the overhead
 * beyond the package install itself is visible. Target on the reference machine (2 cores, TCG only,
 * Debian 12): the bake takes at most 1 s beyond the install.
 *
 *   npx tsx bench/bake-steps.ts [runs=5]
 *
 * Needs root (loop devices, mounts) and the local base image (built on first use, ~40 s, not measured).
 * The first bake warms the host's package-list cache and is not counted.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bakeImage, type BakeRequest } from '../src/baker/index.js';
import { createLocalProvider } from '../src/providers/local/index.js';
import { testContext } from '../test/baker/helpers/context.js';
import { buildMarkerDeb } from '../test/baker/helpers/test-deb.js';
import { silentLogger } from '../src/common/log.js';

const PHASES: Record<string, string[]> = {
  resolve: ['resolve', 'lock-wait'],
  copy: ['copy'],
  mount: ['attach', 'fsck', 'mount', 'block-services'],
  'package lists': ['index'],
  install: ['install'],
  'identity+hygiene': ['identity', 'inventory', 'hygiene', 'unblock-services'],
  unmount: ['unmount', 'detach'],
  register: ['snapshot', 'register', 'delete-volume'],
};

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 5);
  const provider = createLocalProvider({});
  const base = (await provider.buildBaseImage({})).image;
  const work = mkdtempSync(join(tmpdir(), 'ovenproof-bench-steps-'));
  const deb = buildMarkerDeb(work);
  const { ctx } = await testContext(join(work, 'ledger.json'), { log: silentLogger });
  const request = (i: number): BakeRequest => ({
    baseImage: base.id,
    packageFiles: [deb],
    packages: ['jq'],
    // A unique no-op script gives every run its own bake key, so none is a cache hit.
    provisionScript: `# bench ${process.pid} ${i}\ntrue`,
    strategy: 'volume',
    sshUser: 'root',
  });

  const samples: Record<string, number[]> = { total: [] };
  for (let i = 0; i <= runs; i++) {
    const outcome = await bakeImage(provider, request(i), ctx);
    await provider.deregisterImage(ctx, outcome.image.id);
    if (i === 0) continue; // warm-up: fills the host package-list cache
    const d = outcome.durationsMs;
    for (const [phase, steps] of Object.entries(PHASES)) {
      (samples[phase] ??= []).push(steps.reduce((sum, step) => sum + (d[step] ?? 0), 0));
    }
    samples.total!.push(d.total ?? 0);
    process.stderr.write(`run ${i}: total ${s(d.total ?? 0)}, install ${s(d.install ?? 0)}\n`);
  }

  console.log(`volume bake phases, median of ${runs} runs (base ${base.id}, ${deb.split('/').pop()} + jq)`);
  for (const phase of Object.keys(PHASES)) console.log(`  ${phase.padEnd(18)} ${s(median(samples[phase]!))}`);
  const total = median(samples.total!);
  const install = median(samples.install!);
  const overheads = samples.total!.map((t, i) => t - samples.install![i]!);
  console.log(`  ${'total'.padEnd(18)} ${s(total)}`);
  console.log(
    `bake-steps: total ${s(total)}, install ${s(install)}, overhead beyond install ${s(median(overheads))} ` +
      `(target <= 1.00 s; copy ${s(median(samples.copy!))}, mount ${s(median(samples.mount!))}, ` +
      `unmount ${s(median(samples.unmount!))}, register ${s(median(samples.register!))})`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
