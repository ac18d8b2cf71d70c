import { basename } from 'node:path';
import type { TestCase, TestSuite } from './model.js';
import { LIMITS, cap } from './text.js';

/**
 * Something about a result file's structure that keeps it from proving the run green: a TAP stream
 * without a plan, a subtest that never finished, XML cut off in the middle. `relaxable` breaks are
 * dropped when strict checking is turned off (some tools are known to emit them); the others (a
 * "Bail out!", a truncated XML file) always fail.
 */
export interface StructureBreak {
  message: string;
  relaxable: boolean;
}

/** What every result parser hands back once its input has ended. */
export interface ParserOutput {
  suites: TestSuite[];
  breaks: StructureBreak[];
}

/** How many breaks of one file are spelled out; the rest are counted. */
const LISTED_BREAKS = 20;

/**
 * The one failing case that stands for a structurally broken result file, so that the file can never
 * count as passed. It has no location: reporters list it in the summary, not as an annotation.
 */
export function brokenFileSuite(source: string, breaks: StructureBreak[]): TestSuite {
  const listed = breaks.slice(0, LISTED_BREAKS).map((b) => `- ${b.message}`);
  if (breaks.length > LISTED_BREAKS) listed.push(`- … and ${breaks.length - LISTED_BREAKS} more`);
  const relaxable = breaks.every((b) => b.relaxable);
  const details = [
    `${basename(source)} does not prove that its tests passed:`,
    ...listed,
    relaxable
      ? 'If the tool that wrote it is known to emit this, results-strict: false (ovenproof results --strict=false) relaxes these checks.'
      : 'The stream was cut off or aborted, so tests may be missing from it.',
  ].join('\n');
  const testCase: TestCase = {
    name: cap(`result file ${basename(source)} is incomplete`, LIMITS.name),
    suite: '',
    status: 'error',
    durationMs: null,
    message: cap(breaks.map((b) => b.message).join('; '), LIMITS.message),
    details: cap(details, LIMITS.details),
    file: null,
    line: null,
    stdout: '',
    stderr: '',
  };
  return { name: '', source, cases: [testCase] };
}
