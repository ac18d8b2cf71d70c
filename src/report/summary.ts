/**
 * Markdown for the job summary and the check-run summary: status line, counts table, failing tests with
 * links to file:line at the commit, image and instance, and a Mermaid gantt chart of stage timings.
 * The failure list is filled last against a byte budget so the result always fits GitHub's limit and says
 * visibly what was left out.
 */
import { costLine } from '../common/cost.js';
import { formatDuration } from '../common/duration.js';
import type { RunResult, StageName, StageRecord } from '../common/run-result.js';
import { STAGES } from '../common/run-result.js';
import type { TestFailure } from '../results/model.js';
import {
  LIMITS,
  byteLength,
  escapeMarkdown,
  firstLine,
  progressBar,
  truncateBytes,
  truncateChars,
} from './text.js';

export interface SummaryOptions {
  /** https://github.com or the GHES server URL. */
  serverUrl: string;
  /** owner/name */
  repository: string;
  /** Commit the links point at; without one, locations are shown as plain text. */
  sha: string | null;
}

const STAGE_LABEL: Record<StageName, string> = {
  build: 'Build',
  bake: 'Bake',
  launch: 'Launch',
  test: 'Test',
  report: 'Report',
  teardown: 'Teardown',
};

export function stageLabel(stage: string): string {
  return STAGE_LABEL[stage as StageName] ?? stage;
}

/** The check-run title: short, ≤ 255 characters. */
export function resultTitle(result: RunResult): string {
  const t = result.tests;
  let title: string;
  if (result.status === 'error') {
    const stage = result.error?.stage ?? 'pipeline';
    title = `${stageLabel(stage)} failed: ${firstLine(result.error?.message ?? 'unknown error')}`;
  } else if (t.failed > 0) {
    title = `${t.failed} of ${t.total} tests failed`;
  } else if (t.total === 0) {
    title = result.status === 'passed' ? 'Passed (no test results reported)' : 'Failed';
  } else {
    title = `All ${t.total} tests passed${t.skipped ? ` (${t.skipped} skipped)` : ''}`;
  }
  return truncateChars(title, LIMITS.titleChars);
}

function statusLine(result: RunResult): string {
  if (result.status === 'error') {
    const stage = result.error?.stage ?? 'pipeline';
    const message = truncateChars(result.error?.message ?? 'unknown error', 2000);
    return `## 💥 ${escapeMarkdown(stageLabel(stage))} failed\n\nThe **${escapeMarkdown(stage)}** stage failed: ${escapeMarkdown(message)}`;
  }
  if (result.status === 'failed') return `## ❌ ${escapeMarkdown(resultTitle(result))}`;
  return `## ✅ ${escapeMarkdown(resultTitle(result))}`;
}

function countsTable(result: RunResult): string {
  const t = result.tests;
  return [
    '| Total | Passed | Failed | Skipped |',
    '| ---: | ---: | ---: | ---: |',
    `| ${t.total} | ${t.passed} | ${t.failed} | ${t.skipped} |`,
  ].join('\n');
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** `[path:line](server/repo/blob/sha/path#Lline)`, or plain text without a commit. */
export function locationLink(failure: TestFailure, options: SummaryOptions): string {
  if (!failure.file) return '_no location in the repository_';
  const label = `${failure.file}${failure.line ? `:${failure.line}` : ''}`;
  if (!options.sha) return `\`${label.replace(/`/g, "'")}\``;
  const url = `${options.serverUrl.replace(/\/+$/, '')}/${options.repository}/blob/${options.sha}/${encodePath(
    failure.file.replace(/^\.?\/+/, ''),
  )}${failure.line ? `#L${failure.line}` : ''}`;
  return `[${escapeMarkdown(label)}](${url})`;
}

function failureItem(failure: TestFailure, options: SummaryOptions): string {
  const name = escapeMarkdown(truncateChars(failure.name || '(unnamed test)', 300));
  const suite = failure.suite ? ` (${escapeMarkdown(truncateChars(failure.suite, 200))})` : '';
  const message = firstLine(failure.message);
  const quote = message ? `\n  <br>${escapeMarkdown(truncateChars(message, 400))}` : '';
  return `- **${name}**${suite} — ${locationLink(failure, options)}${quote}`;
}

function bakeLine(image: NonNullable<RunResult['image']>): string {
  const origin = image.cacheHit
    ? image.reusedFromRun
      ? `cache hit: reused from run \`${escapeMarkdown(image.reusedFromRun)}\``
      : 'cache hit: reused an identical earlier bake'
    : 'baked in this run';
  const fate = image.promoted
    ? 'promoted (kept)'
    : image.expiresAt
      ? `in the bake cache until ${escapeMarkdown(image.expiresAt)}`
      : 'not kept';
  return `${origin}; ${fate}`;
}

function runTable(result: RunResult): string {
  const rows: string[] = ['| | |', '| --- | --- |', `| Provider | \`${result.provider}\` |`];
  if (result.image) {
    rows.push(`| Image | \`${escapeMarkdown(result.image.id)}\` |`);
    rows.push(`| Bake | ${bakeLine(result.image)} |`);
    rows.push(`| Base image | \`${escapeMarkdown(result.image.baseImageId)}\` |`);
  }
  if (result.instance) rows.push(`| Instance | \`${escapeMarkdown(result.instance.id)}\` |`);
  if (result.commit) rows.push(`| Commit | \`${escapeMarkdown(result.commit)}\` |`);
  if (result.failureImage) {
    rows.push(
      `| Failure image | \`${escapeMarkdown(result.failureImage.id)}\` until ${escapeMarkdown(result.failureImage.expiresAt)}: ` +
        'boot the failing machine again with `ovenproof reproduce --result-json result.json` (the result JSON of this run) |',
    );
  }
  if (result.cost) rows.push(`| Cost | ${escapeMarkdown(costLine(result.cost))} |`);
  return rows.join('\n');
}

/**
 * A Mermaid gantt chart, one task per stage that ran, positioned at its offset from the first stage
 * (`dateFormat x` = milliseconds). Returns '' when no stage has a usable start time.
 */
export function ganttChart(stages: readonly StageRecord[]): string {
  const timed = stages
    .filter((s) => s.status !== 'skipped')
    .map((s) => ({ stage: s, start: Date.parse(s.startedAt) }))
    .filter((s) => Number.isFinite(s.start));
  if (timed.length === 0) return '';
  const origin = Math.min(...timed.map((s) => s.start));
  const end = Math.max(...timed.map((s) => s.start + s.stage.durationMs - origin));
  const lines = [
    '```mermaid',
    'gantt',
    '  dateFormat x',
    `  axisFormat ${end >= 3_600_000 ? '%H:%M:%S' : '%M:%S'}`,
    '  section Stages',
  ];
  const bar = (name: string, tag: string, id: string, at: number, ms: number) =>
    `  ${name} :${tag}, ${id}, ${at - origin}, ${Math.max(1, Math.round(ms))}ms`;
  timed.forEach(({ stage, start }, index) => {
    const tag = stage.status === 'failed' ? 'crit' : 'done';
    // Task names are our fixed stage labels; ':' and '#' never reach the chart from user input.
    lines.push(
      bar(
        `${stageLabel(stage.name)} ${formatDuration(stage.durationMs)}`,
        tag,
        `s${index}`,
        start,
        stage.durationMs,
      ),
    );
    (stage.steps ?? []).forEach((step, j) => {
      const at = Date.parse(step.startedAt);
      if (!Number.isFinite(at)) return;
      // Step names come from ovenproof's own steps; anything else is reduced to safe characters.
      const name = step.name.replace(/[^A-Za-z0-9 ._/-]/g, ' ').slice(0, 60);
      lines.push(
        bar(`· ${name} ${formatDuration(step.durationMs)}`, 'active', `s${index}_${j}`, at, step.durationMs),
      );
    });
  });
  lines.push('```');
  return lines.join('\n');
}

function stageTable(stages: readonly StageRecord[]): string {
  const icon = { ok: '✅', failed: '❌', skipped: '⏭️' } as const;
  return [
    '| Stage | Status | Duration | Steps |',
    '| --- | --- | ---: | --- |',
    ...stages.map(
      (s) =>
        `| ${stageLabel(s.name)} | ${icon[s.status]} ${s.status} | ${formatDuration(s.durationMs)} | ${(
          s.steps ?? []
        )
          .map((step) => `${escapeMarkdown(step.name)} ${formatDuration(step.durationMs)}`)
          .join(' · ')} |`,
    ),
  ].join('\n');
}

/** Markdown of a finished run, at most `maxBytes` bytes. */
export function renderSummary(result: RunResult, options: SummaryOptions, maxBytes: number): string {
  const head = [statusLine(result), countsTable(result)].join('\n\n');
  const tail: string[] = ['### Run', runTable(result)];
  if (result.stages.length) {
    tail.push('### Stages', stageTable(result.stages));
    const gantt = ganttChart(result.stages);
    if (gantt) tail.push(gantt);
  }
  const tailText = tail.join('\n\n');
  const failures = result.tests.failures;
  if (failures.length === 0) return truncateBytes(`${head}\n\n${tailText}\n`, maxBytes, CUT_NOTE);

  const heading = `### Failing tests (${failures.length})`;
  // Reserve room for the note that says how many were left out.
  const reserve = 400;
  let budget = maxBytes - byteLength(head) - byteLength(tailText) - byteLength(heading) - reserve;
  const items: string[] = [];
  for (const failure of failures) {
    const item = failureItem(failure, options);
    const size = byteLength(item) + 1;
    if (size > budget) break;
    items.push(item);
    budget -= size;
  }
  const omitted = failures.length - items.length;
  const note = omitted
    ? `\n\n> [!WARNING]\n> Summary cut to GitHub's ${maxBytes.toLocaleString('en-US')}-byte limit: ${omitted} more failing test${
        omitted === 1 ? ' is' : 's are'
      } not listed here (see the annotations and the result JSON).`
    : '';
  const text = `${head}\n\n${heading}\n\n${items.join('\n')}${note}\n\n${tailText}\n`;
  return truncateBytes(text, maxBytes, CUT_NOTE);
}

const CUT_NOTE = '\n\n> [!WARNING]\n> Summary cut here to fit GitHub’s size limit.\n';

/** The job summary (`core.summary`): at most 1 MiB, GitHub's per-step limit. */
export function renderJobSummary(
  result: RunResult,
  options: { serverUrl: string; repository: string; sha: string | null },
): string {
  return renderSummary(result, options, LIMITS.jobSummaryBytes);
}

/** The check run's final summary: at most 65,535 bytes. */
export function renderCheckSummary(result: RunResult, options: SummaryOptions): string {
  return renderSummary(result, options, LIMITS.summaryBytes);
}

export interface LiveState {
  /** Stage now running, or null before the first stage starts. */
  stage: StageName | null;
  label: string | null;
  /** Overall progress 0..1. */
  fraction: number;
  startedAt: number;
  now: number;
  finished: Map<StageName, { status: 'ok' | 'failed' | 'skipped'; durationMs: number }>;
  stageStartedAt: number | null;
}

/** Title of the in-progress check run: `Bake: Mounting volume (40%)`. */
export function liveTitle(state: LiveState): string {
  if (!state.stage) return 'Starting';
  const label = state.label ? `: ${state.label}` : '';
  return truncateChars(
    `${stageLabel(state.stage)}${label} (${Math.round(state.fraction * 100)}%)`,
    LIMITS.titleChars,
  );
}

/** Summary of the in-progress check run: current stage and label, a text progress bar, elapsed time. */
export function renderLiveSummary(state: LiveState): string {
  const current = state.stage
    ? `${stageLabel(state.stage)}${state.label ? ` — ${escapeMarkdown(state.label)}` : ''}`
    : 'Starting';
  const lines = [
    `### ⏳ ${current}`,
    '',
    `\`${progressBar(state.fraction)}\` · elapsed ${formatDuration(state.now - state.startedAt)}`,
    '',
    '| Stage | Status | Duration |',
    '| --- | --- | ---: |',
  ];
  for (const stage of STAGES) {
    const done = state.finished.get(stage);
    if (done) lines.push(`| ${stageLabel(stage)} | ${done.status} | ${formatDuration(done.durationMs)} |`);
    else if (stage === state.stage) {
      const running = state.stageStartedAt === null ? 0 : state.now - state.stageStartedAt;
      lines.push(`| **${stageLabel(stage)}** | running | ${formatDuration(running)} |`);
    } else lines.push(`| ${stageLabel(stage)} | pending | |`);
  }
  return truncateBytes(lines.join('\n') + '\n', LIMITS.summaryBytes, CUT_NOTE);
}
