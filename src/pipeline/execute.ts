/**
 * What both shells (Action and CLI) do around the pipeline: build the provider from the config, find
 * the repository and commit, pick a work directory, run, and write the result JSON.
 */
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../common/atomic-file.js';
import { loadPriceTable } from '../common/cost.js';
import type { Logger } from '../common/log.js';
import type { RunResult } from '../common/run-result.js';
import type { Config } from './config.js';
import type { PipelineEvents } from './events.js';
import { gitHead, gitTopLevel } from './git.js';
import { Ledger } from './ledger.js';
import { runPipeline, type PipelineMode, type PipelineOutcome } from './pipeline.js';
import { createProvider, providerSettingsFor } from './providers.js';
import { bakerUrlFor } from './baker-urls.js';
import { bakeryClientFor, runRegionOf, type BakerCredential } from './remote-bake.js';

export interface ExecuteOptions {
  config: Config;
  mode: PipelineMode;
  events: PipelineEvents;
  log: Logger;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  /** Known commit (the Action's head SHA for the event); otherwise `git rev-parse HEAD`. */
  commit?: string | null;
  repository?: string | null;
  /** Parent for the per-run work directory; default the OS temp dir (RUNNER_TEMP in Actions). */
  tempRoot?: string;
  onLedger?: (path: string) => void;
  /** In GitHub Actions with `baker-audience`: fetches an OIDC token for the bakery. */
  bakerOidcToken?: BakerCredential;
  restoreCachedBake?: (bakeKey: string) => Promise<unknown>;
}

export async function executePipeline(options: ExecuteOptions): Promise<PipelineOutcome> {
  const { config } = options;
  const settings = providerSettingsFor(config, options.env);
  // A broken OVENPROOF_PRICES file is a config error before anything runs, not a surprise at the end.
  const prices = await loadPriceTable(options.env);
  const provider = await createProvider(settings, options.log);
  // With a bakery per region, the run's region picks one: a mismatch is a config error before any work.
  const region = runRegionOf(settings as unknown as Record<string, unknown>, config);
  const bakerUrl = config.bakerUrl ? bakerUrlFor(config.bakerUrl, region) : null;
  const repoRoot = await gitTopLevel(config.projectDir);
  const commit = options.commit ?? (repoRoot ? await gitHead(repoRoot) : null);
  const tempRoot = options.tempRoot ?? tmpdir();
  await mkdir(tempRoot, { recursive: true });
  const workDir = await mkdtemp(join(tempRoot, 'ovenproof-'));
  return runPipeline(
    {
      config,
      provider,
      providerSettings: settings as unknown as Record<string, unknown>,
      events: options.events,
      log: options.log,
      signal: options.signal,
      workDir,
      commit,
      repoRoot,
      repository: options.repository ?? null,
      onLedger: options.onLedger,
      prices,
      bakery: bakerUrl
        ? async () => ({
            client: await bakeryClientFor(bakerUrl, config, options.bakerOidcToken ?? null, options.log),
            region,
          })
        : null,
      ...(options.restoreCachedBake ? { restoreCachedBake: options.restoreCachedBake } : {}),
    },
    options.mode,
  );
}

/**
 * Removes a CLI run's work directory (ledger, fetched results, debug keys) once nothing of the run is
 * left to clean: no live resource and no instance kept for debugging. The Action keeps it (its post step
 * reads the ledger; the runner wipes RUNNER_TEMP at the end of the job).
 */
export async function removeWorkDirIfClean(outcome: PipelineOutcome): Promise<boolean> {
  const ledger = await Ledger.open(outcome.ledgerPath);
  const pending =
    ledger.live().length > 0 || ledger.entries().some((e) => e.kind === 'instance' && e.state === 'kept');
  if (pending) return false;
  await rm(dirname(outcome.ledgerPath), { recursive: true, force: true });
  return true;
}

export async function writeResultJson(path: string, result: RunResult): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(result, null, 2)}\n`, 0o644);
}
