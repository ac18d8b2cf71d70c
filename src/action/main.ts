/**
 * The Action's main step: a thin shell that reads inputs into the Config, starts the check run on
 * the event's head SHA, runs the pipeline, completes the check run and sets the outputs. The ledger
 * path is saved for the post step before anything is created.
 */
import * as core from '@actions/core';
import * as github from '@actions/github';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { ExitCode, errorMessage, exitCodeOf } from '../common/errors.js';
import { PipelineEvents } from '../pipeline/events.js';
import { executePipeline, writeResultJson } from '../pipeline/execute.js';
import { abortOnSignals } from '../pipeline/signals.js';
import {
  ConsoleReporter,
  DEFAULT_API_URL,
  headShaFor,
  publishResult,
  readRunResult,
  startCheckRun,
  type CheckRunOptions,
} from '../report/index.js';
import { ovenproofHome } from '../common/host/home.js';
import type { Config } from '../pipeline/config.js';
import { ActionsImageCache } from './image-cache.js';
import { readActionConfig } from './inputs.js';
import { actionsLogger as log } from './logger.js';
import { saveLedgerPath } from './state.js';

function checkRunOptions(token: string, sha: string, name: string): CheckRunOptions {
  const { owner, repo } = github.context.repo;
  const serverUrl = process.env.GITHUB_SERVER_URL ?? 'https://github.com';
  const runId = process.env.GITHUB_RUN_ID;
  return {
    token,
    apiUrl: process.env.GITHUB_API_URL ?? DEFAULT_API_URL,
    owner,
    repo,
    sha,
    name,
    serverUrl,
    ...(runId ? { detailsUrl: `${serverUrl}/${owner}/${repo}/actions/runs/${runId}` } : {}),
    log,
  };
}

/** The persisted local image store, when the config asks for it and the runner offers a cache service. */
function imageCacheFor(config: Config): ActionsImageCache | null {
  if (config.provider !== 'local' || !config.cache) return null;
  if (!ActionsImageCache.available()) {
    log.info('cache: this runner offers no Actions cache service; local images are not persisted');
    return null;
  }
  return new ActionsImageCache({
    home: ovenproofHome(process.env),
    stagingRoot: process.env.RUNNER_TEMP ?? tmpdir(),
    cacheTtlMs: config.cacheTtlMs,
    log,
  });
}

/** Base names (`debian-12`) are what the local provider builds; ids and filters are not restorable. */
const BASE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

async function run(): Promise<number> {
  const workspace = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const token = core.getInput('github-token') || process.env.GITHUB_TOKEN || '';
  if (token) core.setSecret(token);
  const { eventName, payload } = github.context;
  const headSha = headShaFor(eventName, payload, github.context.sha);

  // publish-result may come from the input or from ovenproof.yml, like every other key.
  const settings = await readActionConfig(workspace, []);
  if (settings.publishResult) {
    const result = await readRunResult(settings.publishResult);
    const outcome = await publishResult(result, checkRunOptions(token, headSha, settings.checkName));
    core.setOutput('check-run-url', outcome.checkRunUrl ?? '');
    core.setOutput('tests-total', String(result.tests.total));
    core.setOutput('tests-failed', String(result.tests.failed));
    return ExitCode.ok;
  }

  const config = await readActionConfig(workspace, ['test']);
  const events = new PipelineEvents();
  const consoleReporter = new ConsoleReporter(process.stdout, { tty: false, groups: true });
  events.subscribe((event) => consoleReporter.onEvent(event));
  const reporter = await startCheckRun(checkRunOptions(token, headSha, config.checkName));
  events.subscribe((event) => reporter.onEvent(event));

  const signals = abortOnSignals(log);
  const imageCache = imageCacheFor(config);
  try {
    if (imageCache && BASE_NAME.test(config.baseImage)) await imageCache.restoreBase(config.baseImage);
    const outcome = await executePipeline({
      config,
      mode: 'run',
      events,
      log,
      signal: signals.signal,
      env: process.env,
      commit: headSha,
      repository: `${github.context.repo.owner}/${github.context.repo.repo}`,
      tempRoot: process.env.RUNNER_TEMP ?? tmpdir(),
      // The runner hands out an OIDC token for the bakery's audience (needs `id-token: write`).
      ...(config.bakerAudience ? { bakerOidcToken: () => core.getIDToken(config.bakerAudience!) } : {}),
      onLedger: saveLedgerPath,
      ...(imageCache ? { restoreCachedBake: (key: string) => imageCache.restoreBake(key) } : {}),
    });
    const { result } = outcome;
    // Only what this run used or made: its base and its image, if they are still in the store.
    if (imageCache) await imageCache.saveImages([result.image?.baseImageId, result.image?.id]);
    const report = await reporter.finish(result, {
      ...(outcome.buildLogTail ? { buildLogTail: outcome.buildLogTail } : {}),
      ...(outcome.interrupted ? { conclusion: outcome.interrupted } : {}),
    });
    result.annotations = report.annotations;
    const resultPath = join(dirname(outcome.ledgerPath), 'result.json');
    await writeResultJson(resultPath, result);

    core.setOutput('image-id', result.image?.id ?? '');
    core.setOutput('bake-cache-hit', String(result.image?.cacheHit ?? false));
    core.setOutput('instance-id', result.instance?.id ?? '');
    core.setOutput('tests-total', String(result.tests.total));
    core.setOutput('tests-failed', String(result.tests.failed));
    core.setOutput('check-run-url', report.checkRunUrl ?? '');
    core.setOutput('result-json', resultPath);

    if (result.status === 'failed')
      core.error(`${result.tests.failed} of ${result.tests.total} tests failed`);
    if (result.error) core.error(`${result.error.stage} failed: ${result.error.message}`);
    return outcome.exitCode;
  } finally {
    signals.dispose();
  }
}

try {
  process.exitCode = await run();
} catch (error) {
  core.setFailed(errorMessage(error));
  process.exitCode = exitCodeOf(error);
}
// The post step cleans up whatever is left; do not let a stray handle keep the job waiting.
setTimeout(() => process.exit(), 2_000).unref();
