/** Turns a finished pipeline run (its state and the runner's outcome) into the result file. */
import { ExitCode, errorMessage, exitCodeOf } from '../common/errors.js';
import { STAGES, type RunResult, type StageName, type StageRecord } from '../common/run-result.js';
import type { RunOutcome, StepTiming } from '../common/steps.js';
import { estimateRunCost } from '../common/cost.js';
import { BUILTIN_PRICES } from '../common/prices.js';
import type { PipelineOutcome } from './pipeline.js';
import { reusedFrom } from './stages/bake.js';
import type { RunState } from './stages/state.js';

export function assembleResult(
  state: RunState,
  outcome: RunOutcome,
  records: Map<StageName, StageRecord>,
  ledgerPath: string,
): PipelineOutcome {
  const { ledger, deps, mode } = state;
  const failure = outcome.failure;
  // The stage is the one that was running: a provider call cannot know which stage it serves (a
  // launch serves both the instance bake and the launch stage).
  const error = failure
    ? { stage: failure.step, message: errorMessage(failure.error) }
    : outcome.cleanupErrors.length
      ? {
          stage: 'teardown',
          message: outcome.cleanupErrors.map((e) => `${e.step}: ${errorMessage(e.error)}`).join('; '),
        }
      : null;
  const status: RunResult['status'] = error ? 'error' : state.testsFailed ? 'failed' : 'passed';
  const bakeRecord = records.get('bake');
  if (bakeRecord && state.bake?.steps.length) bakeRecord.steps = state.bake.steps;
  for (const [name, steps] of Object.entries(state.stageSteps) as Array<[StageName, StepTiming[]]>) {
    const record = records.get(name);
    if (record && steps.length) record.steps = [...(record.steps ?? []), ...steps];
  }

  const relevantStages =
    mode === 'run' ? STAGES : STAGES.filter((s) => s === 'build' || s === 'bake' || s === 'teardown');
  const endIso = new Date().toISOString();
  const result: RunResult = {
    status,
    error,
    provider: deps.provider.name,
    commit: deps.commit,
    image: state.bake
      ? {
          id: state.bake.image.id,
          baseImageId: state.bake.baseImageId,
          bakeKey: state.bake.bakeKey,
          cacheHit: state.bake.cacheHit,
          reusedFromRun: state.bake.cacheHit ? reusedFrom(state.bake) : null,
          // Every successful in-process bake outlives the run: promoted, or as a bake-cache entry. A
          // bakery's image belongs to the bakery: promoted if tagged so, or promoted by it for this run.
          kept: state.bakedBy ? bakeryPromoted(state) : state.imageFate !== null,
          promoted: state.bakedBy ? bakeryPromoted(state) : (state.imageFate?.promoted ?? false),
          expiresAt: state.bakedBy
            ? bakeryPromoted(state)
              ? null
              : (state.bake.image.tags['ovenproof:expires-at'] ?? null)
            : (state.imageFate?.expiresAt ?? null),
          bakedBy: state.bakedBy,
          ...(state.imageCopies.length ? { copies: state.imageCopies } : {}),
        }
      : null,
    instance: state.instance
      ? {
          id: state.instance.id,
          address: `${state.instance.host}:${state.instance.port}`,
          ...(state.debugSsh ? { debugSsh: state.debugSsh } : {}),
          ...(state.instance.boot ? { boot: state.instance.boot } : {}),
        }
      : null,
    failureImage: state.failureImage,
    cost: estimateRunCost(
      {
        provider: deps.provider.name,
        region: deps.config.region,
        resources: ledger.entries(),
        now: new Date(),
      },
      deps.prices ?? BUILTIN_PRICES,
    ),
    stages: relevantStages.map(
      (name) => records.get(name) ?? { name, status: 'skipped', startedAt: endIso, durationMs: 0 },
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

/** A bakery's image is promoted if it was already, or if this run had its bakery promote it. */
function bakeryPromoted(state: RunState): boolean {
  return state.imageFate?.promoted === true || state.bake?.image.tags['ovenproof:kept'] === 'true';
}
