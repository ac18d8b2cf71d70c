/**
 * The one test-result model every parser (JUnit XML variants, TAP) produces and every reporter reads.
 * Shared contract between src/results (producer) and src/report, src/pipeline (consumers).
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

/** A located failure, as in SPEC §2.3 `tests.failures[]`. `file` is repository-relative or null. */
export interface TestFailure {
  name: string;
  suite: string;
  file: string | null;
  line: number | null;
  message: string;
  details: string;
}

/** SPEC §2.3 `tests` object. `failed` counts both failed and errored cases. */
export interface TestsSummary {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  failures: TestFailure[];
}

/** A problem reading one result file (too large, hostile, unreadable); the other files still count. */
export interface ResultFileProblem {
  source: string;
  message: string;
}

export interface ParsedResults {
  suites: TestSuite[];
  problems: ResultFileProblem[];
}
