import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand, CliIo } from '../command.js';
import { ConfigError, ExitCode, errorMessage } from '../../common/errors.js';
import {
  findRepoRoot,
  oneLine,
  parsePathMap,
  parseResultFiles,
  summarizeResults,
  type ResultFormat,
  type TestsSummary,
} from '../../results/index.js';

const HELP = `Usage: ovenproof results FILE... [--format auto|junit|tap] [--path-map A=B]... [--strict=false] [--json]

Parses JUnit XML or TAP result files and prints the tests summary (the result file's "tests" object).

A result file whose structure does not prove its tests ran (a TAP stream without a plan or with
repeated test numbers, a YAML block or subtest never closed, "Bail out!", XML cut off) counts as one
failed test that says what was wrong.

Options:
  --format F        auto (default), junit or tap
  --path-map A=B    map paths in the results (A, e.g. /opt/app) to the repository (B, e.g. .); repeatable
  --strict=false    relax the structure checks (plans, test numbers, closed blocks, pragma +strict) for
                    tools known to break them; a bail-out or a cut-off file still fails
  --json            print the tests object as JSON on stdout
  -h, --help        show this help

Exit codes: 0 all tests passed (or no tests), 1 a test failed or a result file is incomplete,
3 a file that is not a test result, unreadable input or bad flags.

Examples:
  ovenproof results build/junit.xml
  ovenproof results results/*.xml --path-map /opt/app=. --json`;

export const resultsCommand: CliCommand = {
  name: 'results',
  summary: 'Parse JUnit/TAP result files and print the tests summary',
  help: HELP,
  run: runResults,
};

async function runResults(args: string[], io: CliIo): Promise<number> {
  let files: string[];
  let format: ResultFormat;
  let pathMap: ReturnType<typeof parsePathMap>;
  let json: boolean;
  let strict: boolean;
  try {
    const parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        format: { type: 'string', default: 'auto' },
        'path-map': { type: 'string', multiple: true, default: [] },
        strict: { type: 'string', default: 'true' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (parsed.values.help) {
      io.stdout.write(`${HELP}\n`);
      return ExitCode.ok;
    }
    const f = parsed.values.format;
    if (f !== 'auto' && f !== 'junit' && f !== 'tap') {
      throw new ConfigError(`--format: "${f}" is not allowed (use auto, junit or tap)`);
    }
    const s = parsed.values.strict;
    if (s !== 'true' && s !== 'false') {
      throw new ConfigError(`--strict: "${s}" is not allowed (use --strict=true or --strict=false)`);
    }
    strict = s === 'true';
    if (parsed.positionals.length === 0) throw new ConfigError('no result file given');
    format = f;
    pathMap = parsePathMap(parsed.values['path-map']);
    json = parsed.values.json;
    files = parsed.positionals.map((file) => resolve(io.cwd, file));
  } catch (error) {
    io.stderr.write(`ovenproof results: ${oneLine(errorMessage(error))}\n${HELP.split('\n')[0]}\n`);
    return ExitCode.usageError;
  }

  const parsed = await parseResultFiles(files, { format, strict });
  const repoRoot = await findRepoRoot(io.cwd);
  const tests = await summarizeResults(parsed, { pathMap, repoRoot });
  for (const problem of parsed.problems) {
    io.stderr.write(`ovenproof results: ${oneLine(problem.source)} ${oneLine(problem.message)}\n`);
  }
  io.stdout.write(json ? `${JSON.stringify(tests, null, 2)}\n` : renderTable(tests));
  if (parsed.problems.length > 0) return ExitCode.usageError;
  return tests.failed > 0 ? ExitCode.testsFailed : ExitCode.ok;
}

/**
 * Human-readable summary. Every line starts with text ovenproof chose and every name passes through
 * oneLine(), so a test named "::error::x" or containing newlines never forms a workflow command.
 */
export function renderTable(tests: TestsSummary): string {
  const lines = [
    `tests: ${tests.total} total, ${tests.passed} passed, ${tests.failed} failed, ${tests.skipped} skipped`,
  ];
  for (const failure of tests.failures) {
    const where = failure.file
      ? `${failure.file}${failure.line ? `:${failure.line}` : ''}`
      : '(no repository file)';
    const title = failure.suite ? `${failure.suite} > ${failure.name}` : failure.name;
    lines.push(`FAIL ${oneLine(title)}`);
    lines.push(`  at ${oneLine(where)}`);
    if (failure.message) lines.push(`  message: ${oneLine(failure.message)}`);
  }
  return `${lines.join('\n')}\n`;
}
