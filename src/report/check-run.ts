/**
 * The check-run lifecycle: created `in_progress` when the pipeline starts, its summary updated on stage
 * changes (throttled to about one update a second), completed with the conclusion and the annotations in
 * requests of at most 50. Without `checks: write` (fork pull requests) it falls back to workflow-command
 * annotations and the job summary, and says once why and how to get full reporting.
 */
import * as core from '@actions/core';
import { errorMessage, PipelineError } from '../common/errors.js';
import type { PipelineEvent } from '../common/events.js';
import type { Logger } from '../common/log.js';
import type { RunResult } from '../common/run-result.js';
import { STAGES } from '../common/run-result.js';
import { batches, buildAnnotations, DEFAULT_FALLBACK_PATH, type CheckAnnotation } from './annotations.js';
import { workflowFileFromEnv } from './head-sha.js';
import { createGitHubClient, httpStatusOf, serverUrlFor, type GitHubClient } from './octokit.js';
import {
  liveTitle,
  renderCheckSummary,
  renderJobSummary,
  renderLiveSummary,
  resultTitle,
  type LiveState,
} from './summary.js';
import { annotationCommands, stdoutCommandSink, type CommandSink } from './workflow-commands.js';

export type Conclusion = 'success' | 'failure' | 'cancelled' | 'timed_out';

export interface CheckRunOptions {
  token: string;
  /** REST base URL: https://api.github.com, or https://HOST/api/v3 on GitHub Enterprise Server. */
  apiUrl: string;
  owner: string;
  repo: string;
  /** Head SHA the check run belongs to (see headShaFor). */
  sha: string;
  name: string;
  detailsUrl?: string;
  /** Web URL for links in summaries; derived from apiUrl when absent. */
  serverUrl?: string;
  log: Logger;
  /** Repository file for annotations with no file of their own (build failure); default: the workflow file
   *  from GITHUB_WORKFLOW_REF, else ovenproof.yml. */
  fallbackPath?: string;
  /** Where fallback workflow commands go; default stdout, which the Actions runner parses. */
  commandSink?: CommandSink;
  /** Write the job summary (core.summary) on finish; default: when $GITHUB_STEP_SUMMARY is set. */
  jobSummary?: boolean;
  /** Minimum spacing of live summary updates; default 1000 ms. */
  minUpdateIntervalMs?: number;
}

export interface FinishExtra {
  buildLogTail?: string;
  conclusion?: Conclusion;
}

export interface ReportOutcome {
  checkRunUrl: string | null;
  annotations: number;
}

export interface RunReporter {
  onEvent(event: PipelineEvent): void;
  finish(result: RunResult, extra?: FinishExtra): Promise<ReportOutcome>;
  /** Resolves when every update triggered so far has been sent (or dropped after an error). */
  settled(): Promise<void>;
}

export const FORK_HELP =
  'The token cannot write check runs (HTTP 403): this happens on pull requests from forks, whose token is ' +
  'read-only, and when the workflow lacks `permissions: checks: write`. Failing tests are reported as ' +
  'workflow-command annotations and in the job summary instead. For a full check run on fork pull requests, ' +
  'upload the result JSON as an artifact and publish it from a `workflow_run` workflow with `checks: write` ' +
  '(`ovenproof publish` or the `publish-result` input; see docs/reporting.md).';

export function conclusionFor(result: RunResult): Conclusion {
  return result.status === 'passed' ? 'success' : 'failure';
}

function describeApiError(action: string, error: unknown): string {
  const status = httpStatusOf(error);
  return `${action} failed${status ? ` (HTTP ${status})` : ''}: ${errorMessage(error)}`;
}

interface Target {
  octokit: GitHubClient;
  owner: string;
  repo: string;
}

/**
 * Sends `annotations` in requests of at most 50 to an existing check run; the last request also
 * completes it. Returns how many annotations GitHub accepted.
 */
async function completeCheckRun(
  target: Target,
  checkRunId: number,
  output: { title: string; summary: string },
  annotations: CheckAnnotation[],
  conclusion: Conclusion,
): Promise<number> {
  const groups = batches(annotations);
  if (groups.length === 0) groups.push([]);
  let sent = 0;
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i]!;
    const last = i === groups.length - 1;
    await target.octokit.rest.checks.update({
      owner: target.owner,
      repo: target.repo,
      check_run_id: checkRunId,
      output: { ...output, ...(group.length ? { annotations: group } : {}) },
      ...(last ? { status: 'completed' as const, conclusion, completed_at: new Date().toISOString() } : {}),
    });
    sent += group.length;
  }
  return sent;
}

function fallbackPathFor(options: CheckRunOptions): string {
  return options.fallbackPath ?? workflowFileFromEnv(process.env) ?? DEFAULT_FALLBACK_PATH;
}

function summaryOptions(options: CheckRunOptions) {
  return {
    serverUrl: options.serverUrl ?? serverUrlFor(options.apiUrl),
    repository: `${options.owner}/${options.repo}`,
    sha: options.sha,
  };
}

/** Appends the job summary through @actions/core when running in Actions (or when asked to). */
export async function writeJobSummary(result: RunResult, options: CheckRunOptions): Promise<void> {
  const wanted = options.jobSummary ?? Boolean(process.env.GITHUB_STEP_SUMMARY);
  if (!wanted) return;
  try {
    await core.summary.addRaw(renderJobSummary(result, summaryOptions(options)), true).write();
  } catch (error) {
    options.log.warn(`could not write the job summary: ${errorMessage(error)}`);
  }
}

class CheckRunReporter implements RunReporter {
  private readonly state: LiveState;
  private readonly interval: number;
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private fallbackAnnounced = false;
  private progressErrorLogged = false;
  private finished = false;

  constructor(
    private readonly options: CheckRunOptions,
    private readonly target: Target,
    private checkRun: { id: number; url: string } | null,
  ) {
    const now = Date.now();
    this.state = {
      stage: null,
      label: null,
      fraction: 0,
      startedAt: now,
      now,
      finished: new Map(),
      stageStartedAt: null,
    };
    this.interval = options.minUpdateIntervalMs ?? 1000;
  }

  announceFallback(reason: string): void {
    if (this.fallbackAnnounced) return;
    this.fallbackAnnounced = true;
    this.options.log.warn(reason);
  }

  onEvent(event: PipelineEvent): void {
    if (this.finished) return;
    const s = this.state;
    switch (event.type) {
      case 'stage-start':
        s.stage = event.stage;
        s.label = null;
        s.stageStartedAt = event.at;
        s.fraction = Math.max(s.fraction, STAGES.indexOf(event.stage) / STAGES.length);
        break;
      case 'stage-end':
        s.finished.set(event.stage, { status: event.status, durationMs: event.durationMs });
        s.fraction = Math.max(s.fraction, (STAGES.indexOf(event.stage) + 1) / STAGES.length);
        break;
      case 'progress':
        if (event.label === s.label && event.stage === s.stage) return;
        s.stage = event.stage;
        s.label = event.label;
        s.fraction = Math.min(1, Math.max(0, event.fraction));
        break;
      case 'output':
        return;
    }
    this.scheduleUpdate();
  }

  /** Coalesces bursts of events: one update now if the last was long enough ago, else one trailing update. */
  private scheduleUpdate(): void {
    if (!this.checkRun || this.timer) return;
    const wait = this.lastSentAt + this.interval - Date.now();
    if (wait <= 0) this.enqueueUpdate();
    else {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.enqueueUpdate();
      }, wait);
    }
  }

  private enqueueUpdate(): void {
    this.lastSentAt = Date.now();
    this.chain = this.chain.then(() => this.sendProgress());
  }

  private async sendProgress(): Promise<void> {
    if (!this.checkRun || this.finished) return;
    this.state.now = Date.now();
    try {
      await this.target.octokit.rest.checks.update({
        owner: this.target.owner,
        repo: this.target.repo,
        check_run_id: this.checkRun.id,
        status: 'in_progress',
        output: { title: liveTitle(this.state), summary: renderLiveSummary(this.state) },
      });
    } catch (error) {
      if (httpStatusOf(error) === 403) {
        this.checkRun = null;
        this.announceFallback(FORK_HELP);
      } else if (!this.progressErrorLogged) {
        // Progress is cosmetic: a failed update must not stop the pipeline; the final update retries.
        this.progressErrorLogged = true;
        this.options.log.warn(describeApiError('updating the check run progress', error));
      }
    }
  }

  settled(): Promise<void> {
    return this.chain;
  }

  async finish(result: RunResult, extra: FinishExtra = {}): Promise<ReportOutcome> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.chain;
    this.finished = true;
    const annotations = buildAnnotations(result, {
      fallbackPath: fallbackPathFor(this.options),
      ...(extra.buildLogTail !== undefined ? { buildLogTail: extra.buildLogTail } : {}),
    });
    let outcome: ReportOutcome | null = null;
    if (this.checkRun) {
      try {
        const sent = await completeCheckRun(
          this.target,
          this.checkRun.id,
          { title: resultTitle(result), summary: renderCheckSummary(result, summaryOptions(this.options)) },
          annotations,
          extra.conclusion ?? conclusionFor(result),
        );
        outcome = { checkRunUrl: this.checkRun.url, annotations: sent };
      } catch (error) {
        this.announceFallback(
          httpStatusOf(error) === 403
            ? FORK_HELP
            : `${describeApiError('completing the check run', error)}; reporting in the log instead`,
        );
      }
    }
    if (!outcome) {
      const { lines, annotated } = annotationCommands(annotations);
      const sink = this.options.commandSink ?? stdoutCommandSink;
      for (const line of lines) sink(line);
      outcome = { checkRunUrl: null, annotations: annotated };
    }
    await writeJobSummary(result, this.options);
    return outcome;
  }
}

function startOutput(): { title: string; summary: string } {
  return {
    title: 'Starting',
    summary: '### ⏳ Starting\n\nThe pipeline has started; stages appear here as they run.\n',
  };
}

function targetFor(options: CheckRunOptions): Target {
  return {
    octokit: createGitHubClient(options.token, options.apiUrl, options.log),
    owner: options.owner,
    repo: options.repo,
  };
}

/** Creates the check run `in_progress`; on any API error the reporter falls back to log annotations. */
export async function startCheckRun(options: CheckRunOptions): Promise<RunReporter> {
  const target = targetFor(options);
  try {
    const { data } = await target.octokit.rest.checks.create({
      owner: options.owner,
      repo: options.repo,
      name: options.name,
      head_sha: options.sha,
      status: 'in_progress',
      started_at: new Date().toISOString(),
      ...(options.detailsUrl ? { details_url: options.detailsUrl } : {}),
      output: startOutput(),
    });
    return new CheckRunReporter(options, target, { id: data.id, url: data.html_url ?? data.url });
  } catch (error) {
    const reporter = new CheckRunReporter(options, target, null);
    reporter.announceFallback(
      httpStatusOf(error) === 403
        ? FORK_HELP
        : `${describeApiError('creating the check run', error)}; reporting in the log instead`,
    );
    return reporter;
  }
}

/**
 * Posts a finished run as one complete check run: created with the first 50 annotations, the rest
 * appended 50 at a time, the last request completing it. API failures throw a PipelineError (exit 2);
 * a 403 first reports the failures as workflow-command annotations and in the job summary.
 */
export async function publishResult(result: RunResult, options: CheckRunOptions): Promise<ReportOutcome> {
  const target = targetFor(options);
  const annotations = buildAnnotations(result, { fallbackPath: fallbackPathFor(options) });
  const output = { title: resultTitle(result), summary: renderCheckSummary(result, summaryOptions(options)) };
  const conclusion = conclusionFor(result);
  const [first = [], ...rest] = batches(annotations);
  const startedAt = result.stages[0] ? new Date(result.stages[0].startedAt) : null;
  let created: { id: number; url: string };
  try {
    const { data } = await target.octokit.rest.checks.create({
      owner: options.owner,
      repo: options.repo,
      name: options.name,
      head_sha: options.sha,
      ...(startedAt && !Number.isNaN(startedAt.getTime()) ? { started_at: startedAt.toISOString() } : {}),
      ...(options.detailsUrl ? { details_url: options.detailsUrl } : {}),
      ...(rest.length
        ? { status: 'in_progress' as const }
        : { status: 'completed' as const, conclusion, completed_at: new Date().toISOString() }),
      output: { ...output, ...(first.length ? { annotations: first } : {}) },
    });
    created = { id: data.id, url: data.html_url ?? data.url };
  } catch (error) {
    const failed = describeApiError(`creating check run "${options.name}" on ${options.sha}`, error);
    if (httpStatusOf(error) !== 403) throw new PipelineError('report', `${failed}.`, { cause: error });
    // Without `checks: write` nothing is lost: the failures still reach the log as workflow-command
    // annotations and the job summary, as in a run; the exit status still says the check run is missing.
    const { lines, annotated } = annotationCommands(annotations);
    const sink = options.commandSink ?? stdoutCommandSink;
    for (const line of lines) sink(line);
    await writeJobSummary(result, options);
    throw new PipelineError(
      'report',
      `${failed}. The token needs \`checks: write\` (see docs/reporting.md); ${annotated} failing test(s) ` +
        `were reported as workflow-command annotations${
          (options.jobSummary ?? Boolean(process.env.GITHUB_STEP_SUMMARY)) ? ' and in the job summary' : ''
        } instead.`,
      { cause: error },
    );
  }
  let sent = first.length;
  if (rest.length) {
    try {
      sent += await completeCheckRun(target, created.id, output, rest.flat(), conclusion);
    } catch (error) {
      throw new PipelineError('report', `${describeApiError(`completing check run ${created.url}`, error)}`, {
        cause: error,
      });
    }
  }
  await writeJobSummary(result, options);
  return { checkRunUrl: created.url, annotations: sent };
}
