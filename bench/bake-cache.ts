/**
 * The bake stage of a bake-cache hit vs a fresh volume bake, side by side in one run, for a package
 * whose build is not reproducible: every round writes a new package tree, builds it with a plain
 * `dpkg-deb --build` (fresh mtimes, no SOURCE_DATE_EPOCH), bakes it (a miss), rebuilds the same
 * sources a second later (different bytes, same content) and bakes again: the content digest in the
 * bake key makes the second bake a hit. Both are timed as the pipeline's bake stage does it: the
 * baker plus taking the image into the cache (lease, last use, expiry).
 *
 *   npx tsx bench/bake-cache.ts [rounds=3]
 *
 * Needs root (loop devices, mounts) and the local base image (built on first use, not measured).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bakeImage } from '../src/baker/index.js';
import { silentLogger } from '../src/common/log.js';
import { holdImage } from '../src/pipeline/image-lifecycle.js';
import { createLocalProvider } from '../src/providers/local/index.js';
import { testContext } from '../test/baker/helpers/context.js';

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** A plain, non-reproducible build of the same sources: files copied fresh, default compression. */
function buildDeb(work: string, round: number, attempt: number): string {
  const root = join(work, `pkg-${round}-${attempt}`);
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  writeFileSync(
    join(root, 'DEBIAN/control'),
    `Package: bench-nonrepro\nVersion: 1.${round}\nArchitecture: all\nMaintainer: bench <bench@example.invalid>\nDescription: non-reproducible bench package\n`,
  );
  writeFileSync(join(root, 'usr/bin/bench-nonrepro'), `#!/bin/sh\necho "round ${round} of ${process.pid}"\n`);
  chmodSync(join(root, 'usr/bin/bench-nonrepro'), 0o755);
  const deb = join(work, `bench-nonrepro-${round}-${attempt}.deb`);
  const { SOURCE_DATE_EPOCH: _unset, ...env } = process.env;
  execFileSync('dpkg-deb', ['--build', root, deb], { stdio: 'ignore', env });
  return deb;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  const provider = createLocalProvider({});
  const base = (await provider.buildBaseImage({})).image;
  const work = mkdtempSync(join(tmpdir(), 'ovenproof-bench-cache-'));
  const { ctx, ledger } = await testContext(join(work, 'ledger.json'), { log: silentLogger });
  const ttl = 7 * 86_400_000;
  const bakeStage = async (deb: string) => {
    const started = performance.now();
    const outcome = await bakeImage(
      provider,
      { baseImage: base.id, packageFiles: [deb], packages: [], strategy: 'volume', sshUser: 'root' },
      ctx,
    );
    await holdImage(provider, ctx, ledger, outcome, ttl);
    return { outcome, ms: performance.now() - started };
  };

  const fresh: number[] = [];
  const hit: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const first = buildDeb(work, round, 1);
    const baked = await bakeStage(first);
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // new mtimes in the rebuild
    const second = buildDeb(work, round, 2);
    const reused = await bakeStage(second);
    await provider.deregisterImage(ctx, baked.outcome.image.id);
    if (sha256(first) === sha256(second)) throw new Error('the rebuild was byte-identical: not a fair test');
    if (
      baked.outcome.cacheHit ||
      !reused.outcome.cacheHit ||
      reused.outcome.image.id !== baked.outcome.image.id
    ) {
      throw new Error(`round ${round}: expected a miss then a hit of the same image`);
    }
    fresh.push(baked.ms);
    hit.push(reused.ms);
    process.stderr.write(`round ${round}: fresh volume bake ${s(baked.ms)}, cache hit ${s(reused.ms)}\n`);
  }
  rmSync(work, { recursive: true, force: true });
  const ratio = median(hit) / median(fresh);
  console.log(
    `bake-cache: bake stage of a cache hit ${s(median(hit))} vs a fresh volume bake ${s(median(fresh))} = ratio ${ratio.toFixed(3)} ` +
      `(median of ${rounds} rounds; non-reproducible .deb rebuilt with different bytes every round; target hit < 1 s)`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
