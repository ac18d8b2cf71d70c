/**
 * "Never green unless proven green": each class of result file that used to report passed (or be
 * refused) although its tool did not report a pass, with a few lines of input.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultsCommand } from '../../src/cli/commands/results.js';
import { buildAnnotations, renderJobSummary } from '../../src/report/index.js';
import {
  parseResultFiles,
  RepoLocator,
  parsePathMap,
  summarizeResults,
  type TestsSummary,
} from '../../src/results/index.js';
import { runResult, SHA } from '../report/fixtures.js';
import { runCommand } from '../support/cli-io.js';

let dir: string;
let counter = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ovenproof-structure-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(content: string, ext = 'tap'): Promise<string> {
  counter += 1;
  const path = join(dir, `r${counter}.${ext}`);
  await writeFile(path, content);
  return path;
}

async function summary(content: string, options: { ext?: string; strict?: boolean } = {}) {
  const path = await file(content, options.ext);
  const parsed = await parseResultFiles([path], { strict: options.strict ?? true });
  const tests = await summarizeResults(parsed, { pathMap: [], repoRoot: null });
  const args = options.strict === false ? [path, '--strict=false'] : [path];
  const exit = await runCommand(resultsCommand, args, { cwd: dir });
  return { parsed, tests, exit, path };
}

/** The failure ovenproof adds for a broken stream: no location, a message that says what was wrong. */
function brokenFailure(tests: TestsSummary) {
  const broken = tests.failures.filter((f) => /^result file .* is incomplete$/.test(f.name));
  expect(broken).toHaveLength(1);
  expect(broken[0]).toMatchObject({ file: null, line: null });
  return broken[0]!;
}

describe('TAP that hid failures', () => {
  it('a YAML block never closed ends at the next less indented line: later "not ok" lines count', async () => {
    const { tests, exit } = await summary(
      'TAP version 14\n1..3\nok 1 - a\n  ---\n  message: opened, never closed\nnot ok 2 - b\nok 3 - c\n',
    );
    expect(tests).toMatchObject({ total: 4, passed: 2, failed: 2 });
    expect(tests.failures[0]!.name).toBe('b');
    expect(brokenFailure(tests).message).toContain(
      'YAML block of test 1 "a" opened with "---" is never closed',
    );
    expect(exit.code).toBe(1);
  });

  it('a stream without a plan (the runner died before printing it) is not green', async () => {
    const { tests, exit } = await summary('TAP version 14\nok 1 - a\nok 2 - b\n');
    expect(tests).toMatchObject({ total: 3, passed: 2, failed: 1 });
    expect(brokenFailure(tests).message).toMatch(/^no plan/);
    expect(exit.code).toBe(1);
    expect(exit.stdout).toMatch(
      /^FAIL result file r\d+\.tap is incomplete\n {2}at \(no repository file\)\n {2}message: no plan/m,
    );
  });

  it('test points outside the plan', async () => {
    const { tests, exit } = await summary('1..2\nok 1 - a\nok 2 - b\nok 3 - c\n');
    expect(brokenFailure(tests).message).toContain('planned 2 tests (1..2) but reported 3');
    expect(brokenFailure(tests).message).toContain('test number 3 outside its plan 1..2');
    expect(exit.code).toBe(1);
  });

  it('duplicate test numbers', async () => {
    const { tests, exit } = await summary('1..2\nok 1 - a\nok 1 - a again\n');
    expect(brokenFailure(tests).message).toContain('reports test number 1 more than once');
    expect(exit.code).toBe(1);
  });

  it('a plan in the middle with tests after it', async () => {
    const { tests, exit } = await summary('ok 1 - a\n1..2\nok 2 - b\n');
    expect(brokenFailure(tests).message).toContain('plan 1..2 after test 1 but more tests after the plan');
    expect(exit.code).toBe(1);
  });

  it('a non-TAP line under "pragma +strict"', async () => {
    const { tests, exit } = await summary(
      'TAP version 14\npragma +strict\n1..1\nSegmentation fault (core dumped)\nok 1 - a\n',
    );
    expect(brokenFailure(tests).message).toContain('line 4 is not TAP although "pragma +strict" is on');
    expect(exit.code).toBe(1);
    // Without the pragma, or after "pragma -strict", other lines are allowed.
    const relaxed = await summary('TAP version 14\npragma +strict\npragma -strict\n1..1\nnoise\nok 1 - a\n');
    expect(relaxed.tests.failed).toBe(0);
    expect(relaxed.exit.code).toBe(0);
  });

  it('--strict=false relaxes the structure checks, never a bail-out', async () => {
    const lenient = await summary('ok 1 - a\nok 1 - a again\n', { strict: false });
    expect(lenient.tests).toMatchObject({ total: 2, passed: 2, failed: 0 });
    expect(lenient.exit.code).toBe(0);
    const bailed = await summary('1..2\nok 1 - a\nBail out! database gone\n', { strict: false });
    expect(brokenFailure(bailed.tests).message).toContain('Bail out! database gone');
    expect(bailed.exit.code).toBe(1);
  });
});

describe('TAP miscounts', () => {
  it('nothing after "Bail out!" counts', async () => {
    const { tests } = await summary('1..3\nok 1 - a\nBail out! no database\nok 2 - b\nok 3 - c\n');
    expect(tests).toMatchObject({ total: 2, passed: 1, failed: 1 });
    expect(brokenFailure(tests).message).toContain('aborted with "Bail out! no database"');
  });

  it('a directive needs whitespace before "#": "title#skip" is a name', async () => {
    const { tests, parsed } = await summary(
      '1..3\nnot ok 1 - title#skip\nok 2 - b # SKIP later\nok 3 - c \\# TODO not one\n',
    );
    expect(tests).toMatchObject({ total: 3, passed: 1, failed: 1, skipped: 1 });
    expect(parsed.suites[0]!.cases.map((c) => [c.name, c.status])).toEqual([
      ['title#skip', 'failed'],
      ['b', 'skipped'],
      ['c # TODO not one', 'passed'],
    ]);
  });

  it('a subtest the stream ends in is reported as unfinished, its tests counted, not as a plan mismatch', async () => {
    const { tests, parsed } = await summary(
      'TAP version 14\n1..2\nok 1 - first\n# Subtest: second\n    1..3\n    ok 1 - inner a\n    not ok 2 - inner b\n',
    );
    const message = brokenFailure(tests).message;
    expect(message).toContain('subtest "second" never finished');
    expect(message).not.toContain('planned 2');
    expect(parsed.suites[0]!.cases.map((c) => `${c.suite}|${c.name}|${c.status}`)).toEqual([
      '|first|passed',
      'second|inner a|passed',
      'second|inner b|failed',
    ]);
    expect(tests).toMatchObject({ total: 4, failed: 2 });
  });

  it("node-tap's buffered { … } subtests count once, through their subtests", async () => {
    const { tests, parsed, exit } = await summary(
      'TAP version 14\n1..2\nok 1 - group # time=3ms {\n    1..2\n    ok 1 - inner a\n    ok 2 - inner b\n}\nok 2 - after\n',
    );
    expect(parsed.suites[0]!.cases.map((c) => `${c.suite}|${c.name}`)).toEqual([
      'group|inner a',
      'group|inner b',
      '|after',
    ]);
    expect(tests).toMatchObject({ total: 3, passed: 3, failed: 0 });
    expect(exit.code).toBe(0);
  });
});

describe('detection', () => {
  it('skips npm banners and compiler output before the TAP', async () => {
    const { tests, exit } = await summary(
      '\n> pkg@1.0.0 test\n> node --test --test-reporter=tap\n\nTAP version 13\nok 1 - a\nnot ok 2 - b\n1..2\n',
      { ext: 'txt' },
    );
    expect(tests).toMatchObject({ total: 2, passed: 1, failed: 1 });
    expect(exit.code).toBe(1);
  });

  it('an empty file is a run without tests; a file that is no result at all still exits 3', async () => {
    const empty = await summary('', { ext: 'xml' });
    expect(empty.parsed.problems).toEqual([]);
    expect(empty.tests.total).toBe(0);
    expect(empty.exit.code).toBe(0);
    const prose = await summary('# Notes\n\nNothing to see here.\n', { ext: 'md' });
    expect(prose.exit.code).toBe(3);
    expect(prose.parsed.problems[0]!.message).toMatch(/is neither JUnit XML nor TAP/);
  });
});

describe('JUnit semantics', () => {
  it('disabled, notrun and suppressed count as skipped, not passed', async () => {
    const { tests } = await summary(
      '<testsuites><testsuite name="g">' +
        '<testcase name="a" status="run" result="completed"/>' +
        '<testcase name="DISABLED_b" status="notrun" result="suppressed"/>' +
        '<testcase name="c" status="disabled"/>' +
        '<testcase name="d" result="skipped"><skipped message="GTEST_SKIP"/></testcase>' +
        '<testcase name="e"><ignored/></testcase>' +
        '</testsuite></testsuites>',
      { ext: 'xml' },
    );
    expect(tests).toMatchObject({ total: 5, passed: 1, failed: 0, skipped: 4 });
  });

  it('nested suites, system-out attachments, timestamps and Surefire reruns keep their meaning', async () => {
    const { parsed, tests } = await summary(
      '<testsuites><testsuite name="outer" timestamp="2026-12-02T08:00:00" tests="3" failures="1">' +
        '<testsuite name="inner" timestamp="2026-12-02T08:00:01" tests="3" failures="1">' +
        '<testcase name="flaky"><flakyFailure message="first try"/><system-out>[[ATTACHMENT|/tmp/shot.png]]</system-out></testcase>' +
        '<testcase name="rerun"><failure message="still"/><rerunFailure message="again"/></testcase>' +
        '<testcase name="plain"/>' +
        '</testsuite></testsuite></testsuites>',
      { ext: 'xml' },
    );
    expect(tests).toMatchObject({ total: 3, passed: 2, failed: 1, skipped: 0 });
    expect(tests.failures.map((f) => [f.suite, f.name, f.message])).toEqual([['inner', 'rerun', 'still']]);
    expect(parsed.suites[0]!.cases[0]!.stdout).toBe('[[ATTACHMENT|/tmp/shot.png]]');
  });

  it('a suite that only declares counts yields its declared failures', async () => {
    const { tests, exit } = await summary(
      '<testsuites><testsuite name="totals" tests="6" failures="1" errors="1" skipped="1"/></testsuites>',
      { ext: 'xml' },
    );
    expect(tests).toMatchObject({ total: 6, passed: 3, failed: 2, skipped: 1 });
    expect(tests.failures[0]!.message).toBe(
      'suite "totals" declares 6 tests with 1 failures and 1 errors but lists no test case',
    );
    expect(exit.code).toBe(1);
  });

  it('XML cut off after a JUnit root fails with what it had, instead of exiting 3', async () => {
    const { tests, exit } = await summary(
      '<testsuite name="s"><testcase name="fine"/><testcase name="half"><failure>bo',
      { ext: 'xml' },
    );
    expect(tests).toMatchObject({ total: 2, passed: 1, failed: 1 });
    expect(brokenFailure(tests).message).toMatch(/XML breaks off or is damaged/);
    expect(exit.code).toBe(1);
  });
});

describe('Windows paths', () => {
  const locator = (map: string) =>
    new RepoLocator(new Set(['test/calc.test.js']), '/work/repo', parsePathMap([map]));
  const failing = (details: string, file: string | null = null) => ({
    name: 't',
    suite: '',
    status: 'failed' as const,
    durationMs: null,
    message: '',
    details,
    file,
    line: null,
    stdout: '',
    stderr: '',
  });

  it('stack frames keep the drive letter, and path-map entries map with and without it', () => {
    const frame = 'Error: x\n    at Object.<anonymous> (C:\\a\\app\\test\\calc.test.js:12:5)';
    for (const map of ['C:\\a\\app=.', 'c:/a/app=.', '\\a\\app=.', '/a/app=.']) {
      expect(locator(map).locate(failing(frame))).toEqual({ file: 'test/calc.test.js', line: 12 });
    }
    expect(locator('D:\\a\\app=.').locate(failing(frame))).toEqual({ file: null, line: null });
    const url = 'at file:///C:/a/app/test/calc.test.js:3:1';
    expect(locator('C:\\a\\app=.').locate(failing(url))).toEqual({ file: 'test/calc.test.js', line: 3 });
  });

  it('a JUnit file attribute with a drive letter maps too', async () => {
    const path = await file(
      '<testsuite name="s"><testcase name="t" file="C:\\a\\app\\test\\calc.test.js"><failure message="m">at x (C:\\a\\app\\test\\calc.test.js:7:2)</failure></testcase></testsuite>',
      'xml',
    );
    const parsed = await parseResultFiles([path]);
    const c = parsed.suites[0]!.cases[0]!;
    expect(locator('C:\\a\\app=.').locate(c)).toEqual({ file: 'test/calc.test.js', line: 7 });
  });
});

describe('reports of a broken stream', () => {
  it('list the synthetic failure in the summary, without an annotation', async () => {
    const { tests } = await summary('TAP version 14\nok 1 - a\n');
    const result = runResult(tests.failures, { tests });
    expect(buildAnnotations(result)).toEqual([]);
    const md = renderJobSummary(result, { serverUrl: 'https://github.com', repository: 'o/r', sha: SHA });
    expect(md).toMatch(/- \*\*result file r\d+\.tap is incomplete\*\* — _no location in the repository_/);
    expect(md).toContain('no plan');
  });
});
