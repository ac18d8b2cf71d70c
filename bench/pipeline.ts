/**
 * The whole pipeline on examples/hello-deb with the local provider, through the real CLI (dist/cli.js):
 * a cold run (base image cached, nothing baked yet) and a warm run (bake-cache hit), one after the
 * other in one fresh $OVENPROOF_HOME that holds only a copy of the cached base image. Prints the time
 * of every stage and the warm/cold ratio.
 *
 *   npx tsx bench/pipeline.ts
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../src/common/run-result.js';

const sourceHome = process.env.OVENPROOF_HOME ?? join(process.env.HOME ?? '/root', '.cache', 'ovenproof');

async function findBaseImage(): Promise<string> {
  for (const id of await readdir(join(sourceHome, 'images')).catch(() => [])) {
    const manifest = JSON.parse(
      await readFile(join(sourceHome, 'images', id, 'manifest.json'), 'utf8').catch(() => '{}'),
    );
    if (manifest.parent === null && manifest.name === 'debian-12') return id;
  }
  throw new Error(`no debian-12 base image in ${sourceHome}: run \`node dist/cli.js base build\` first`);
}

function runOnce(home: string, label: string): { result: RunResult; wallMs: number } {
  const resultPath = join(home, `${label}.json`);
  const started = Date.now();
  const run = spawnSync(
    process.execPath,
    ['dist/cli.js', 'run', '--config', 'examples/hello-deb/ovenproof.yml', '--result-json', resultPath],
    { env: { ...process.env, OVENPROOF_HOME: home }, encoding: 'utf8' },
  );
  const wallMs = Date.now() - started;
  if (run.status !== 0) throw new Error(`${label} run exited ${run.status}:\n${run.stderr.slice(-3000)}`);
  return { result: JSON.parse(execFileSync('cat', [resultPath], { encoding: 'utf8' })) as RunResult, wallMs };
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
const stages = (r: RunResult) => r.stages.map((s) => `${s.name} ${fmt(s.durationMs)}`).join(' | ');

const base = await findBaseImage();
const home = await mkdtemp(join(tmpdir(), 'ovenproof-bench-home-'));
try {
  execFileSync('mkdir', ['-p', join(home, 'images')]);
  execFileSync('cp', [
    '-a',
    '--sparse=always',
    '--reflink=auto',
    join(sourceHome, 'images', base),
    join(home, 'images'),
  ]);
  const cold = runOnce(home, 'cold');
  const warm = runOnce(home, 'warm');
  if (cold.result.image?.cacheHit !== false || warm.result.image?.cacheHit !== true) {
    throw new Error('expected a cold bake followed by a bake-cache hit');
  }
  console.log(`pipeline cold: ${fmt(cold.wallMs)} (${stages(cold.result)})`);
  console.log(`pipeline warm: ${fmt(warm.wallMs)} (${stages(warm.result)})`);
  console.log(
    `pipeline: cold ${fmt(cold.wallMs)}, warm ${fmt(warm.wallMs)} (bake ${fmt(warm.result.stages.find((s) => s.name === 'bake')!.durationMs)}), warm/cold ${(warm.wallMs / cold.wallMs).toFixed(2)}; targets cold <= 90s, warm <= 30s`,
  );
} finally {
  execFileSync(process.execPath, ['dist/cli.js', 'sweep', '--provider', 'local'], {
    env: { ...process.env, OVENPROOF_HOME: home },
    stdio: 'ignore',
  });
  await rm(home, { recursive: true, force: true });
}
