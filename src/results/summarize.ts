/**
 * Test results: JUnit XML and TAP files into one model, failures located on tracked
 * repository files.
 */
import type { ParsedResults, ResultFileProblem, TestFailure, TestsSummary, TestSuite } from './model.js';
import { JUnitParser } from './junit.js';
import { RepoLocator, trackedFiles, type PathMapping } from './locate.js';
import { DEFAULT_MAX_BYTES, ResultFileError, readResultText } from './read.js';
import { brokenFileSuite, type ParserOutput } from './structure.js';
import { TapParser } from './tap.js';

export type * from './model.js';

export type ResultFormat = 'auto' | 'junit' | 'tap';

export interface ParseOptions {
  format?: ResultFormat;
  /** Per-file limit in bytes; a larger file is reported as a problem and the others still count. */
  maxBytes?: number;
  /**
   * Structure checks (TAP plans, test numbers, closed YAML blocks and subtests, `pragma +strict`):
   * a file that breaks them gets one synthetic failure (default true). False relaxes them for tools
   * known to emit such streams; a bail-out or a cut-off file fails either way.
   */
  strict?: boolean;
}

/** How many leading lines auto-detection skips before TAP must have begun (npm banners, compiler output). */
const TAP_DETECTION_LINES = 200;

/**
 * Parses each file on its own: a file that is no test result at all becomes a problem, never a crash;
 * a result file whose structure does not prove its tests ran gets one synthetic failing case.
 */
export async function parseResultFiles(paths: string[], options: ParseOptions = {}): Promise<ParsedResults> {
  const format = options.format ?? 'auto';
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const strict = options.strict ?? true;
  const suites: TestSuite[] = [];
  const problems: ResultFileProblem[] = [];
  for (const path of paths) {
    const result = await parseOne(path, format, maxBytes);
    suites.push(...result.suites);
    const breaks = result.breaks.filter((b) => strict || !b.relaxable);
    if (breaks.length > 0) suites.push(brokenFileSuite(path, breaks));
    problems.push(...result.problems.map((message) => ({ source: path, message })));
  }
  return { suites, problems };
}

async function parseOne(
  path: string,
  format: ResultFormat,
  maxBytes: number,
): Promise<ParserOutput & { problems: string[] }> {
  let parser: JUnitParser | TapParser | null = null;
  let start = '';
  try {
    for await (const chunk of readResultText(path, maxBytes)) {
      if (!parser) {
        // Whitespace alone decides nothing: an empty file is a run without tests.
        start += chunk;
        if (!start.trim()) continue;
        parser = pick(start, format, path);
        parser.write(start);
        start = '';
      } else {
        parser.write(chunk);
      }
    }
    if (!parser) return { suites: [], breaks: [], problems: [] };
    return { ...parser.end(), problems: [] };
  } catch (error) {
    if (!(error instanceof ResultFileError)) throw error;
    // Cases completed before the problem still count; the problem is reported next to them.
    const partial = parser instanceof JUnitParser ? parser.suites : [];
    return { suites: partial, breaks: [], problems: [error.message] };
  }
}

function pick(firstText: string, format: ResultFormat, path: string): JUnitParser | TapParser {
  if (format === 'junit') return new JUnitParser(path);
  if (format === 'tap') return new TapParser(path);
  if (firstText.trimStart().startsWith('<')) return new JUnitParser(path);
  const lines = firstText.split('\n', TAP_DETECTION_LINES);
  if (lines.some((line) => /^\s*(TAP version \d+|1\.\.\d+|(not )?ok(\s|$)|Bail out!)/i.test(line))) {
    return new TapParser(path);
  }
  throw new ResultFileError(
    `is neither JUnit XML nor TAP: no XML element and no TAP line in its first ${TAP_DETECTION_LINES} lines (use --format to force one)`,
  );
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
