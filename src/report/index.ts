/** Reporting to GitHub (check run, annotations, job summary) and the console: the public surface of src/report. */
export { headShaFor, headShaFromEnv, workflowFileFromEnv } from './head-sha.js';
export {
  startCheckRun,
  publishResult,
  writeJobSummary,
  conclusionFor,
  FORK_HELP,
  type CheckRunOptions,
  type RunReporter,
  type FinishExtra,
  type ReportOutcome,
  type Conclusion,
} from './check-run.js';
export {
  renderJobSummary,
  renderCheckSummary,
  renderSummary,
  ganttChart,
  resultTitle,
  type SummaryOptions,
} from './summary.js';
export { buildAnnotations, batches, type CheckAnnotation, type AnnotationExtras } from './annotations.js';
export {
  annotationCommands,
  escapeCommandData,
  escapeCommandProperty,
  formatCommand,
  type CommandSink,
} from './workflow-commands.js';
export { ConsoleReporter, type ConsoleReporterOptions } from './console.js';
export { createGitHubClient, serverUrlFor, DEFAULT_API_URL, type GitHubClient } from './octokit.js';
export { readRunResult, parseRunResult } from './result-file.js';
export { LIMITS, truncateBytes, truncateChars, progressBar } from './text.js';
