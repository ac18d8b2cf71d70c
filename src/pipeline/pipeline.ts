/**
 * The one pipeline behind `ovenproof run`, `ovenproof bake` and the Action:
 * build → bake → launch → test → report, then teardown (the steps' cleanups, in reverse).
 * Each stage is a step of the runner and owns the cleanup of what it created (Packer multistep).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CancelledError, ExitCode, PipelineError, errorMessage, exitCodeOf } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { STAGES, type RunResult, type StageName, type StageRecord } from '../common/run-result.js';
import type { InstanceInfo, Provider, RunContext } from '../providers/provider.js';
import { bakeImage, type BakeOutcome } from '../baker/index.js';
import {
  generateEd25519KeyPair,
  runAndCollect,
  waitForSsh,
  type KeyPair,
  type SshTarget,
} from '../ssh/index.js';
import { parseResultFiles, summarizeResults } from '../results/index.js';
import type { TestsSummary } from '../results/model.js';
import type { Config } from './config.js';
import type { PipelineEvents } from './events.js';
import { Ledger } from './ledger.js';
import { runSteps, type Step } from './runner.js';
import { OutputTail, findPackageFiles, runBuildCommand } from './build.js';
import { cleanupLedger } from './cleanup.js';

export type PipelineMode = 'run' | 'bake';

export interface PipelineDeps {
  config: Config;
  provider: Provider;
  /** Serialisable settings that rebuild the provider in the post step / `sweep --ledger`. */
  providerSettings: Record<string, unknown>;
  events: PipelineEvents;
  log: Logger;
  signal: AbortSignal;
  /** Per-run directory for the ledger, keys and fetched result files. */
  workDir: string;
  commit: string | null;
  /** Repository root (git top level) for mapping failures to tracked files; null outside git. */
  repoRoot: string | null;
  /** `owner/name`, tagged on cloud resources. */
  repository: string | null;
  /** Called as soon as the ledger exists (the Action saves its path for the post step). */
  onLedger?: (path: string) => void;
}

export interface PipelineOutcome {
  result: RunResult;
  /** Tail of the build output when the build failed (for its annotation). */
  buildLogTail: string | null;
  /** Set when the run was cancelled or timed out (check run conclusion). */
  interrupted: 'cancelled' | 'timed_out' | null;
  /** SPEC §2.2: 0 passed, 1 tests failed, 2 pipeline error, 3 a config mistake found during the run. */
  exitCode: number;
  bake: BakeOutcome | null;
  ledgerPath: string;
}

/** Limit for one fetched result file; a larger one is reported and the rest still counts. */
const MAX_RESULT_FILE_BYTES = 256 * 1024 * 1024;
/** Readiness deadline: boot plus sshd start, generous for TCG and slow cloud boots. */
const SSH_READY_TIMEOUT_MS = 10 * 60_000;
/** Margin added to ttl for the expiry tag, so sweep never races a run that is still tearing down. */
const EXPIRY_MARGIN_MS = 15 * 60_000;

interface RunState {
  packageFiles: string[];
  buildTail: OutputTail;
  buildFailed: boolean;
  bake: BakeOutcome | null;
  imageCopies: Array<{ region: string; id: string }>;
  instance: InstanceInfo | null;
  /** Ledger keys of everything the launch created (instance, security group, watchdog…). */
  launchKeys: string[];
  clientKey: KeyPair | null;
  tests: TestsSummary;
  testsFailed: boolean;
  resultFiles: string[];
  /** True once the report stage found every test passing; the keep policies read it in cleanup. */
  succeeded: boolean;
}

export async function runPipeline(deps: PipelineDeps, mode: PipelineMode): Promise<PipelineOutcome> {
  const { config, provider, events, log } = deps;
  const runId = `op-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  await mkdir(deps.workDir, { recursive: true, mode: 0o700 });
  const ledgerPath = join(deps.workDir, 'ledger.json');
  const ledger = await Ledger.create(ledgerPath, runId, deps.providerSettings);
  deps.onLedger?.(ledgerPath);

  const stages = new Map<StageName, StageRecord>();
  let currentStage: StageName = 'build';
  const ctx: RunContext = {
    runId,
    expiresAt: new Date(Date.now() + config.ttlMs + EXPIRY_MARGIN_MS),
    journal: ledger,
    signal: deps.signal,
    log,
    progress: ({ label, fraction }) =>
      events.emit({ type: 'progress', stage: currentStage, label, fraction: fraction ?? 0, at: Date.now() }),
    tags: {
      ...(deps.repository ? { 'ovenproof:repository': deps.repository } : {}),
      ...(deps.commit ? { 'ovenproof:commit': deps.commit } : {}),
    },
  };

  const state: RunState = {
    packageFiles: [],
    buildTail: new OutputTail(),
    buildFailed: false,
    bake: null,
    imageCopies: [],
    instance: null,
    launchKeys: [],
    clientKey: null,
    tests: { total: 0, passed: 0, failed: 0, skipped: 0, failures: [] },
    testsFailed: false,
    resultFiles: [],
    succeeded: false,
  };

  const stage = (name: StageName, step: Omit<Step<RunState>, 'name'>): Step<RunState> => ({
    name,
    ...step,
    run: async (s, signal) => {
      currentStage = name;
      const startedAt = Date.now();
      events.emit({ type: 'stage-start', stage: name, at: startedAt });
      const record: StageRecord = {
        name,
        status: 'ok',
        startedAt: new Date(startedAt).toISOString(),
        durationMs: 0,
      };
      stages.set(name, record);
      try {
        await step.run(s, signal);
      } catch (error) {
        record.status = 'failed';
        throw error;
      } finally {
        record.durationMs = Date.now() - startedAt;
        events.emit({
          type: 'stage-end',
          stage: name,
          status: record.status,
          at: Date.now(),
          durationMs: record.durationMs,
        });
      }
    },
  });

  const steps: Step<RunState>[] = [
    stage('build', { run: (s) => buildStage(deps, s) }),
    stage('bake', {
      run: async (s) => {
        await provider.prepareBaseImage?.(ctx, config.baseImage);
        s.bake = await bakeImage(
          provider,
          {
            baseImage: config.baseImage,
            packageFiles: s.packageFiles,
            packages: config.packages,
            strategy: config.bakeStrategy,
            sshUser: config.sshUser,
          },
          ctx,
        );
        log.info(
          s.bake.cacheHit
            ? `bake cache hit: reusing image ${s.bake.image.id} (bake key ${s.bake.bakeKey.slice(0, 12)})`
            : `baked image ${s.bake.image.id} from ${s.bake.baseImageId} (${s.bake.strategy} strategy)`,
        );
      },
      cleanup: (s) => settleImage(deps, ctx, ledger, s, mode),
    }),
  ];
  if (mode === 'run') {
    steps.push(
      stage('launch', {
        run: (s) => launchStage(deps, ctx, ledger, s),
        cleanup: (s) => teardownInstance(deps, ctx, ledger, s),
      }),
      stage('test', { run: (s, signal) => testStage(deps, s, signal) }),
      stage('report', { run: (s) => reportStage(deps, s) }),
    );
  }

  let teardownStarted: number | null = null;
  const outcome = await runSteps(steps, state, {
    signal: deps.signal,
    log,
    onStep: ({ phase, status }) => {
      if (phase === 'cleanup' && status === 'start' && teardownStarted === null) {
        teardownStarted = Date.now();
        currentStage = 'teardown';
        events.emit({ type: 'stage-start', stage: 'teardown', at: teardownStarted });
      }
    },
  });
  // Safety net: a step interrupted past its abort grace period may not have undone what it created.
  // Whatever the ledger still shows as live (not kept) is deleted now, as the post step would.
  const leftovers = ledger.live();
  if (leftovers.length > 0) {
    log.warn(
      `${leftovers.length} resource(s) still live after the steps' cleanups; deleting them from the ledger`,
    );
    const report = await cleanupLedger(ledger, async () => provider, log);
    for (const { entry, message } of report.failed) {
      outcome.cleanupErrors.push({
        step: 'teardown',
        error: new Error(`${entry.kind} ${entry.id ?? entry.key}: ${message}`),
      });
    }
  }
  const teardownStart = teardownStarted ?? Date.now();
  const teardownMs = Date.now() - teardownStart;
  if (teardownStarted !== null) {
    events.emit({
      type: 'stage-end',
      stage: 'teardown',
      status: outcome.cleanupErrors.length ? 'failed' : 'ok',
      at: Date.now(),
      durationMs: teardownMs,
    });
  }
  stages.set('teardown', {
    name: 'teardown',
    status: outcome.cleanupErrors.length ? 'failed' : teardownStarted === null ? 'skipped' : 'ok',
    startedAt: new Date(teardownStart).toISOString(),
    durationMs: teardownMs,
  });

  const failure = outcome.failure;
  const error = failure
    ? { stage: stageOfError(failure.step, failure.error), message: errorMessage(failure.error) }
    : outcome.cleanupErrors.length
      ? {
          stage: 'teardown',
          message: outcome.cleanupErrors.map((e) => `${e.step}: ${errorMessage(e.error)}`).join('; '),
        }
      : null;
  const status: RunResult['status'] = error ? 'error' : state.testsFailed ? 'failed' : 'passed';

  const relevantStages =
    mode === 'run' ? STAGES : STAGES.filter((s) => s === 'build' || s === 'bake' || s === 'teardown');
  const endIso = new Date().toISOString();
  const result: RunResult = {
    status,
    error,
    provider: provider.name,
    commit: deps.commit,
    image: state.bake
      ? {
          id: state.bake.image.id,
          baseImageId: state.bake.baseImageId,
          bakeKey: state.bake.bakeKey,
          cacheHit: state.bake.cacheHit,
          kept: imageKept(ledger, state.bake),
          ...(state.imageCopies.length ? { copies: state.imageCopies } : {}),
        }
      : null,
    instance: state.instance
      ? { id: state.instance.id, address: `${state.instance.host}:${state.instance.port}` }
      : null,
    stages: relevantStages.map(
      (name) => stages.get(name) ?? { name, status: 'skipped', startedAt: endIso, durationMs: 0 },
    ),
    tests: state.tests,
    annotations: 0,
    resources: ledger.entries().map((entry) => ({
      kind: entry.kind,
      id: entry.id ?? entry.key,
      createdAt: entry.createdAt,
      deletedAt: entry.deletedAt,
      kept: entry.state === 'kept',
    })),
  };
  return {
    result,
    buildLogTail: state.buildFailed ? state.buildTail.lines(60) : null,
    interrupted: outcome.interrupted,
    exitCode:
      status === 'passed'
        ? ExitCode.ok
        : status === 'failed'
          ? ExitCode.testsFailed
          : exitCodeOf(failure?.error),
    bake: state.bake,
    ledgerPath,
  };
}

function stageOfError(step: string, error: unknown): string {
  if (error instanceof PipelineError) return error.stage;
  return step;
}

async function buildStage(deps: PipelineDeps, s: RunState): Promise<void> {
  const { config, events, log } = deps;
  if (config.build) {
    log.info(`build: ${config.build}`);
    const code = await runBuildCommand(config.build, config.projectDir, (stream, text) => {
      s.buildTail.push(text);
      events.emit({ type: 'output', stage: 'build', stream, text });
    });
    if (code !== 0) {
      s.buildFailed = true;
      throw new PipelineError('build', `build command failed with exit code ${code}: ${config.build}`);
    }
  }
  if (config.package.length > 0) {
    s.packageFiles = await findPackageFiles(config.package, config.projectDir);
    log.info(`packages: ${s.packageFiles.map((f) => relative(config.projectDir, f)).join(', ')}`);
  }
}

/** Decides the baked image's fate once the run's outcome is known (keep-image policy). */
async function settleImage(
  deps: PipelineDeps,
  ctx: RunContext,
  ledger: Ledger,
  s: RunState,
  mode: PipelineMode,
): Promise<void> {
  if (!s.bake) return;
  const entry = ledger
    .entries()
    .find((e) => e.kind === 'image' && e.id === s.bake!.image.id && e.state === 'live');
  // A cache hit reuses an image an earlier run made and kept: it is never this run's to delete.
  if (s.bake.cacheHit || !entry) return;
  const policy = deps.config.keepImage;
  const keep = mode === 'bake' || policy === 'always' || (policy === 'on-success' && s.succeeded);
  if (keep) {
    const tags: Record<string, string> = { 'ovenproof:kept': 'true' };
    if (mode === 'run') tags['ovenproof:tested'] = s.succeeded ? 'passed' : 'failed';
    await deps.provider.tagImage(ctx, s.bake.image.id, tags);
    await ledger.kept(entry.key);
    deps.log.info(`kept image ${s.bake.image.id} (keep-image: ${mode === 'bake' ? 'bake command' : policy})`);
    const regions = deps.config.regions;
    if (regions.length > 0) {
      if (!deps.provider.copyImage)
        throw new PipelineError('teardown', `regions: the ${deps.provider.name} provider cannot copy images`);
      s.imageCopies = await deps.provider.copyImage(ctx, s.bake.image.id, regions);
      for (const copy of s.imageCopies)
        deps.log.info(`copied image ${s.bake.image.id} to ${copy.region}: ${copy.id}`);
    }
  } else {
    await deps.provider.deregisterImage(ctx, s.bake.image.id);
    await ledger.deleted(entry.key);
    deps.log.info(`deleted image ${s.bake.image.id} (keep-image: ${policy})`);
  }
}

function imageKept(ledger: Ledger, bake: BakeOutcome): boolean {
  if (bake.cacheHit) return bake.image.tags['ovenproof:kept'] === 'true';
  return ledger.entries().some((e) => e.kind === 'image' && e.id === bake.image.id && e.state === 'kept');
}

async function launchStage(deps: PipelineDeps, ctx: RunContext, ledger: Ledger, s: RunState): Promise<void> {
  const { config, provider, log } = deps;
  if (!s.bake) throw new PipelineError('launch', 'no image to launch');
  const clientKey = generateEd25519KeyPair(`ovenproof-${ctx.runId}`);
  const hostKey = generateEd25519KeyPair(`ovenproof-host-${ctx.runId}`);
  log.mask(clientKey.privateKey);
  log.mask(hostKey.privateKey);
  s.clientKey = clientKey;
  const before = new Set(ledger.entries().map((e) => e.key));
  s.instance = await provider.launch(ctx, {
    imageId: s.bake.image.id,
    purpose: 'test',
    identity: {
      hostname: `ovenproof-${ctx.runId}`,
      authorizedKey: clientKey.publicKey,
      hostKeyPrivate: hostKey.privateKey,
      hostKeyPublic: hostKey.publicKey,
    },
    ttlMs: config.ttlMs,
    sshUser: config.sshUser,
    instanceTypes: config.instanceType,
    spot: config.spot,
  });
  s.launchKeys = ledger
    .entries()
    .filter((e) => !before.has(e.key))
    .map((e) => e.key);
  log.info(`launched instance ${s.instance.id} at ${s.instance.host}:${s.instance.port}`);
}

async function teardownInstance(
  deps: PipelineDeps,
  ctx: RunContext,
  ledger: Ledger,
  s: RunState,
): Promise<void> {
  if (!s.instance) return;
  if (deps.config.keepInstance === 'on-failure' && !s.succeeded && s.clientKey) {
    await keepInstanceForDebugging(deps, s.instance, s.clientKey);
    // The instance and what it depends on (its security group, its watchdog) outlive the run.
    await deps.provider.keepInstance?.(s.instance.id);
    for (const key of s.launchKeys) await ledger.kept(key);
    return;
  }
  await deps.provider.terminate(ctx, s.instance.id);
  deps.log.info(`terminated instance ${s.instance.id}`);
}

/** Leaves a failed run's instance up (bounded by ttl) and prints exactly how to reach it. */
async function keepInstanceForDebugging(
  deps: PipelineDeps,
  instance: InstanceInfo,
  clientKey: KeyPair,
): Promise<void> {
  const dir = join(deps.workDir, 'debug-ssh');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, 'id_ed25519');
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(keyPath, clientKey.privateKey, { mode: 0o600 });
  const hostPattern = instance.port === 22 ? instance.host : `[${instance.host}]:${instance.port}`;
  await writeFile(knownHosts, `${hostPattern} ${instance.hostKeyPublic}\n`, { mode: 0o600 });
  const minutes = Math.round(deps.config.ttlMs / 60_000);
  deps.log.warn(
    `keep-instance: on-failure: instance ${instance.id} stays up for at most ${minutes} min (ttl). Reach it with:\n` +
      `  ssh -i ${keyPath} -o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes -p ${instance.port} ${instance.user}@${instance.host}\n` +
      `Remove it (and anything else this run kept) early with: ovenproof sweep --ledger ${join(deps.workDir, 'ledger.json')} --kept`,
  );
}

async function testStage(deps: PipelineDeps, s: RunState, signal: AbortSignal): Promise<void> {
  const { config, events, log } = deps;
  if (!s.instance || !s.clientKey) throw new PipelineError('test', 'no instance to test on');
  if (!config.test) throw new PipelineError('test', 'test: no test command configured');
  const target: SshTarget = {
    host: s.instance.host,
    port: s.instance.port,
    user: s.instance.user,
    privateKey: s.clientKey.privateKey,
    hostKeyPublic: s.instance.hostKeyPublic,
    ...(s.instance.networkProbe ? { networkProbe: s.instance.networkProbe } : {}),
  };
  const session = await waitForSsh(target, {
    timeoutMs: SSH_READY_TIMEOUT_MS,
    signal,
    log,
    stage: 'test',
  }).catch(async (error: unknown) => {
    // The instance's console usually says why SSH never came up (boot failure, no network, sshd).
    if (!(error instanceof CancelledError)) {
      const output = await deps.provider.consoleOutput(s.instance!.id).catch(() => '');
      if (output)
        log.warn(
          `last console lines of ${s.instance!.id}:\n${output.trimEnd().split('\n').slice(-40).join('\n')}`,
        );
    }
    throw error;
  });
  const localDir = join(deps.workDir, 'results');
  await rm(localDir, { recursive: true, force: true });
  await mkdir(localDir, { recursive: true });
  log.info(`test: ${config.test}`);
  try {
    const collected = await runAndCollect(target, config.test, config.results, {
      session,
      localDir,
      maxBytes: MAX_RESULT_FILE_BYTES,
      log,
      exec: {
        onStdout: (text) => events.emit({ type: 'output', stage: 'test', stream: 'stdout', text }),
        onStderr: (text) => events.emit({ type: 'output', stage: 'test', stream: 'stderr', text }),
        timeoutMs: config.testTimeoutMs,
        signal,
      },
    });
    if (signal.aborted) throw signal.reason ?? new CancelledError('cancelled');
    if (collected.exec.timedOut) {
      throw new CancelledError(
        `the test command did not finish within test-timeout (${Math.round(config.testTimeoutMs / 1000)} s) and was killed`,
        'timed_out',
      );
    }
    s.resultFiles = collected.files.filter((f) => !f.truncated).map((f) => f.localPath);
    for (const f of collected.files.filter((f) => f.truncated)) {
      log.warn(`result file ${f.remotePath} is larger than ${MAX_RESULT_FILE_BYTES} bytes and was not read`);
    }
    const code = collected.exec.exitCode;
    if (code !== 0) {
      s.testsFailed = true;
      log.warn(
        `the test command exited with ${code === null ? `signal ${collected.exec.signal}` : `code ${code}`}`,
      );
    }
    if (config.results.length > 0 && collected.files.length === 0) {
      log.warn(`no result files matched ${config.results.join(', ')} on the instance`);
    }
  } finally {
    await session.close().catch(() => undefined);
  }
}

async function reportStage(deps: PipelineDeps, s: RunState): Promise<void> {
  const { config, log } = deps;
  const parsed = await parseResultFiles(s.resultFiles);
  for (const problem of parsed.problems) log.warn(`${problem.source}: ${problem.message}`);
  // path-map targets are written relative to the project (the directory of ovenproof.yml); the
  // results module maps onto repository-relative paths.
  const repoRoot = deps.repoRoot;
  const pathMap = config.pathMap.map(({ from, to }) => ({
    from,
    to: repoRoot ? relative(repoRoot, resolve(config.projectDir, to)) || '.' : to,
  }));
  s.tests = await summarizeResults(parsed, { pathMap, repoRoot });
  if (s.tests.failed > 0) s.testsFailed = true;
  if (s.testsFailed && s.tests.failed === 0) {
    // The command failed but no result file names a failing test: still one visible failure.
    s.tests = {
      ...s.tests,
      total: s.tests.total + 1,
      failed: 1,
      failures: [
        {
          name: 'test command',
          suite: '',
          file: null,
          line: null,
          message: `the test command failed: ${config.test}`,
          details: 'The command exited non-zero and its result files report no failing test.',
        },
      ],
    };
  }
  s.succeeded = !s.testsFailed;
  log.info(
    `tests: ${s.tests.total} total, ${s.tests.passed} passed, ${s.tests.failed} failed, ${s.tests.skipped} skipped`,
  );
}
