/**
 * The one pipeline behind `ovenproof run`, `ovenproof bake` and the Action:
 * build → bake → launch → test → report, then teardown (the stages' cleanups, in reverse).
 * Each stage is a step of the common runner and owns the cleanup of what it created; the stages
 * themselves live in ./stages/.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { StageName, StageRecord } from '../common/run-result.js';
import { runSteps, type RunOutcome, type Step, type StepListener } from '../common/steps.js';
import type { RunContext } from '../providers/provider.js';
import type { BakeOutcome } from '../baker/index.js';
import type { RunResult } from '../common/run-result.js';
import { Ledger } from './ledger.js';
import { cleanupLedger } from './cleanup.js';
import { assembleResult } from './result.js';
import { bakeStage } from './stages/bake.js';
import { OutputTail, buildStage } from './stages/build.js';
import { launchStage } from './stages/launch.js';
import { reportStage } from './stages/report.js';
import type { PipelineDeps, PipelineMode, RunState } from './stages/state.js';
import { testStage } from './stages/test.js';
import { timedStep } from './stages/timing.js';

export type { PipelineDeps, PipelineMode } from './stages/state.js';

export interface PipelineOutcome {
  result: RunResult;
  /** Tail of the build output when the build failed (for its annotation). */
  buildLogTail: string | null;
  /** Set when the run was cancelled or timed out (check run conclusion). */
  interrupted: 'cancelled' | 'timed_out' | null;
  /** 0 passed, 1 tests failed, 2 pipeline error, 3 a config mistake found during the run. */
  exitCode: number;
  bake: BakeOutcome | null;
  ledgerPath: string;
}

/** Margin added to ttl for the expiry tag, so sweep never races a run that is still tearing down. */
const EXPIRY_MARGIN_MS = 15 * 60_000;

const STAGES_OF: Record<PipelineMode, Step<RunState>[]> = {
  run: [buildStage, bakeStage, launchStage, testStage, reportStage],
  bake: [buildStage, bakeStage],
};

export async function runPipeline(deps: PipelineDeps, mode: PipelineMode): Promise<PipelineOutcome> {
  const { config, events, log } = deps;
  const runId = `op-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  await mkdir(deps.workDir, { recursive: true, mode: 0o700 });
  const ledgerPath = join(deps.workDir, 'ledger.json');
  const ledger = await Ledger.create(ledgerPath, runId, deps.providerSettings);
  deps.onLedger?.(ledgerPath);

  const stages = new StageRecorder(deps);
  const ctx: RunContext = {
    runId,
    expiresAt: new Date(Date.now() + config.ttlMs + EXPIRY_MARGIN_MS),
    journal: ledger,
    signal: deps.signal,
    log,
    progress: ({ label, fraction }) =>
      events.emit({
        type: 'progress',
        stage: stages.current,
        label,
        fraction: fraction ?? 0,
        at: Date.now(),
      }),
    tags: {
      ...(deps.repository ? { 'ovenproof:repository': deps.repository } : {}),
      ...(deps.commit ? { 'ovenproof:commit': deps.commit } : {}),
    },
  };
  const state: RunState = {
    deps,
    mode,
    ctx,
    ledger,
    packageFiles: [],
    buildTail: new OutputTail(),
    buildFailed: false,
    bake: null,
    bakedBy: null,
    imageFate: null,
    imageCopies: [],
    instance: null,
    launchKeys: [],
    clientKey: null,
    tests: { total: 0, passed: 0, failed: 0, skipped: 0, failures: [] },
    testsFailed: false,
    resultFiles: [],
    succeeded: false,
    session: null,
    testTimedOut: false,
    failureImage: null,
    debugSsh: null,
    stageSteps: {},
  };

  const outcome = await runSteps(STAGES_OF[mode], state, { signal: deps.signal, log, listeners: [stages] });
  await timedLeftovers(state, outcome);
  stages.finishTeardown(outcome.cleanupErrors.length > 0);
  return assembleResult(state, outcome, stages.records, ledgerPath);
}

async function timedLeftovers(state: RunState, outcome: RunOutcome): Promise<void> {
  if (state.ledger.live().length === 0) return;
  await timedStep(state, 'teardown', 'delete leftovers', 'Deleting leftover resources', () =>
    deleteLeftovers(state, outcome),
  );
}

/**
 * Safety net: a stage interrupted past its abort grace period may not have undone what it created.
 * Whatever the ledger still shows as live (not kept) is deleted now, as the post step would.
 */
async function deleteLeftovers(state: RunState, outcome: RunOutcome): Promise<void> {
  const { ledger, deps } = state;
  const leftovers = ledger.live();
  if (leftovers.length === 0) return;
  deps.log.warn(
    `${leftovers.length} resource(s) still live after the steps' cleanups; deleting them from the ledger`,
  );
  const report = await cleanupLedger(ledger, async () => deps.provider, deps.log);
  for (const { entry, message } of report.failed) {
    outcome.cleanupErrors.push({
      step: 'teardown',
      error: new Error(`${entry.kind} ${entry.id ?? entry.key}: ${message}`),
    });
  }
  if (report.failed.length > 0) {
    deps.log.warn(
      `${report.failed.length} resource(s) could not be deleted; the ledger ${ledger.path} still lists them. ` +
        `Finish the job with: ovenproof sweep --ledger ${ledger.path}`,
    );
  }
}

/**
 * Listens to the runner: emits stage-start / stage-end events, keeps each stage's record for the
 * result file, and treats the first cleanup as the start of teardown.
 */
class StageRecorder implements StepListener<RunState> {
  current: StageName = 'build';
  readonly records = new Map<StageName, StageRecord>();
  private teardownStarted: number | null = null;

  constructor(private readonly deps: PipelineDeps) {}

  stepStarted(step: Step<RunState>): void {
    const name = step.name as StageName;
    const at = Date.now();
    this.current = name;
    this.deps.events.emit({ type: 'stage-start', stage: name, at });
    this.records.set(name, { name, status: 'ok', startedAt: new Date(at).toISOString(), durationMs: 0 });
  }

  stepFinished(step: Step<RunState>, { ok, timing }: { ok: boolean; timing: { durationMs: number } }): void {
    const record = this.records.get(step.name as StageName);
    if (!record) return;
    record.status = ok ? 'ok' : 'failed';
    record.durationMs = timing.durationMs;
    this.deps.events.emit({
      type: 'stage-end',
      stage: record.name,
      status: record.status,
      at: Date.now(),
      durationMs: record.durationMs,
    });
  }

  cleanupStarted(): void {
    if (this.teardownStarted !== null) return;
    this.teardownStarted = Date.now();
    this.current = 'teardown';
    this.deps.events.emit({ type: 'stage-start', stage: 'teardown', at: this.teardownStarted });
  }

  finishTeardown(failed: boolean): void {
    const start = this.teardownStarted ?? Date.now();
    const durationMs = Date.now() - start;
    if (this.teardownStarted !== null) {
      this.deps.events.emit({
        type: 'stage-end',
        stage: 'teardown',
        status: failed ? 'failed' : 'ok',
        at: Date.now(),
        durationMs,
      });
    }
    this.records.set('teardown', {
      name: 'teardown',
      status: failed ? 'failed' : this.teardownStarted === null ? 'skipped' : 'ok',
      startedAt: new Date(start).toISOString(),
      durationMs,
    });
  }
}
