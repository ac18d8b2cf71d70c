/**
 * Test results: JUnit XML and TAP files into one model, failures located on tracked
 * repository files.
 */
import type { ParsedResults, ResultFileProblem, TestFailure, TestsSummary, TestSuite } from './model.js';
import { JUnitParser } from './junit.js';
import { RepoLocator, trackedFiles, type PathMapping } from './locate.js';
import { DEFAULT_MAX_BYTES, ResultFileError, readResultText } from './read.js';
import { TapParser } from './tap.js';

export type * from './model.js';

export type ResultFormat = 'auto' | 'junit' | 'tap';

export interface ParseOptions {
  format?: ResultFormat;
  /** Per-file limit in bytes; a larger file is reported as a problem and the others still count. */
  maxBytes?: number;
}

/** Parses each file on its own: a file that cannot be used becomes a problem, never a crash. */
export async function parseResultFiles(paths: string[], options: ParseOptions = {}): Promise<ParsedResults> {
  const format = options.format ?? 'auto';
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const suites: TestSuite[] = [];
  const problems: ResultFileProblem[] = [];
  for (const path of paths) {
    const result = await parseOne(path, format, maxBytes);
    suites.push(...result.suites);
    problems.push(...result.problems.map((message) => ({ source: path, message })));
  }
  return { suites, problems };
}

async function parseOne(
  path: string,
  format: ResultFormat,
  maxBytes: number,
): Promise<{ suites: TestSuite[]; problems: string[] }> {
  let parser: JUnitParser | TapParser | null = null;
  try {
    for await (const chunk of readResultText(path, maxBytes)) {
      parser ??= pick(chunk, format, path);
      parser.write(chunk);
    }
    if (!parser) throw new ResultFileError('is empty');
    if (parser instanceof JUnitParser) {
      parser.end();
      return { suites: parser.suites, problems: [] };
    }
    const suite = parser.end();
    return { suites: suite.cases.length ? [suite] : [], problems: parser.problems };
  } catch (error) {
    if (!(error instanceof ResultFileError)) throw error;
    // Cases completed before the problem still count; the problem is reported next to them.
    const partial = parser instanceof JUnitParser ? parser.suites : [];
    return { suites: partial, problems: [error.message] };
  }
}

function pick(firstChunk: string, format: ResultFormat, path: string): JUnitParser | TapParser {
  if (format === 'junit') return new JUnitParser(path);
  if (format === 'tap') return new TapParser(path);
  const start = firstChunk.trimStart();
  if (start.startsWith('<')) return new JUnitParser(path);
  if (/^(TAP version \d+|1\.\.\d+|(not )?ok\b|#)/i.test(start)) return new TapParser(path);
  throw new ResultFileError('is neither JUnit XML nor TAP (use --format to force one)');
}

export interface SummarizeOptions {
  pathMap: PathMapping[];
  /** Local checkout whose tracked files (git ls-files) failures may point at; null: no locations. */
  repoRoot: string | null;
}

/** Counts and locates failures: the result file's `tests` object. */
export async function summarizeResults(
  parsed: ParsedResults,
  options: SummarizeOptions,
): Promise<TestsSummary> {
  const tracked = options.repoRoot ? await trackedFiles(options.repoRoot) : new Set<string>();
  const locator = new RepoLocator(tracked, options.repoRoot, options.pathMap);
  const summary: TestsSummary = { total: 0, passed: 0, failed: 0, skipped: 0, failures: [] };
  for (const suite of parsed.suites) {
    for (const testCase of suite.cases) {
      summary.total += 1;
      if (testCase.status === 'passed') summary.passed += 1;
      else if (testCase.status === 'skipped') summary.skipped += 1;
      else {
        summary.failed += 1;
        const { file, line } = locator.locate(testCase);
        const failure: TestFailure = {
          name: testCase.name,
          suite: testCase.suite || suite.name,
          file,
          line: file ? line : null,
          message: testCase.message,
          details: testCase.details,
        };
        summary.failures.push(failure);
      }
    }
  }
  return summary;
}
