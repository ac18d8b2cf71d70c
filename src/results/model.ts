/**
 * The one test-result model every parser (JUnit XML variants, TAP) produces and every reporter reads.
 * Shared contract between src/results (producer) and src/report, src/pipeline (consumers); the summary
 * types that go into the result file live with the other result types in src/common.
 */
export type TestStatus = 'passed' | 'failed' | 'error' | 'skipped';

export interface TestCase {
  name: string;
  /** Suite (or class name) the case belongs to; '' when the format has none. */
  suite: string;
  status: TestStatus;
  durationMs: number | null;
  /** First line / short failure message ('' for passing cases). */
  message: string;
  /** Stack trace or diagnostic block. */
  details: string;
  /** File as written in the result file or found in the stack (instance path, not yet mapped). */
  file: string | null;
  line: number | null;
  stdout: string;
  stderr: string;
}

export interface TestSuite {
  name: string;
  /** The result file this suite came from. */
  source: string;
  cases: TestCase[];
}

export type { TestFailure, TestsSummary } from '../common/run-result.js';

/** A problem reading one result file (too large, hostile, unreadable); the other files still count. */
export interface ResultFileProblem {
  source: string;
  message: string;
}

export interface ParsedResults {
  suites: TestSuite[];
  problems: ResultFileProblem[];
}
