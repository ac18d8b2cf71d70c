/**
 * Conformance matrix: one tiny suite per real test runner, with known outcomes (a pass, an assertion
 * failure, an error thrown from a helper, a skip, a todo, a pass in a nested group), run at test time
 * so that a runner upgrade that changes its output is caught. ovenproof's counts, per-test outcomes and
 * failure locations must match what each suite does.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultsCommand } from '../../src/cli/commands/results.js';
import {
  parseResultFiles,
  summarizeResults,
  type TestFailure,
  type TestStatus,
} from '../../src/results/index.js';
import { runCommand } from '../support/cli-io.js';
import {
  fixtureRepo,
  runBats,
  runJest,
  runMocha,
  runNodeTest,
  runProve,
  runPytest,
  runVitest,
  type FixtureRepo,
  type RunnerOutput,
} from './fixtures.js';

interface Expected {
  runner: string;
  /** Runs the runner in the fixture repository: the result file it wrote and its exit code. */
  produce(dir: string): Promise<RunnerOutput>;
  counts: { total: number; passed: number; failed: number; skipped: number };
  /** Every test's outcome by the name the result file gives it. */
  outcomes: Record<string, TestStatus>;
  failures: Array<Pick<TestFailure, 'name' | 'file' | 'line'>>;
}

const SIX = { total: 6, passed: 2, failed: 2, skipped: 2 };

const MATRIX: Expected[] = [
  {
    runner: 'node --test, TAP reporter',
    produce: (dir) => runNodeTest(join(dir, 'node-test'), 'tap'),
    counts: SIX,
    outcomes: {
      adds: 'passed',
      'adds deliberately wrong': 'failed',
      'skipped on purpose': 'skipped',
      'not written yet': 'skipped',
      'passes inside': 'passed',
      'throws from a helper': 'failed',
    },
    failures: [
      { name: 'adds deliberately wrong', file: 'node-test/calc.spec.mjs', line: 10 },
      { name: 'throws from a helper', file: 'node-test/calc.spec.mjs', line: 31 },
    ],
  },
  {
    runner: 'node --test, JUnit reporter',
    produce: (dir) => runNodeTest(join(dir, 'node-test'), 'junit'),
    counts: SIX,
    outcomes: {
      adds: 'passed',
      'adds deliberately wrong': 'failed',
      'skipped on purpose': 'skipped',
      // A failing todo: node writes <skipped type="todo"> and <failure>; the run does not fail on it.
      'not written yet': 'skipped',
      'passes inside': 'passed',
      'throws from a helper': 'failed',
    },
    failures: [
      { name: 'adds deliberately wrong', file: 'node-test/calc.spec.mjs', line: 10 },
      { name: 'throws from a helper', file: 'node-test/calc.spec.mjs', line: 31 },
    ],
  },
  {
    runner: 'vitest, JUnit reporter',
    produce: (dir) => runVitest(join(dir, 'vitest')),
    counts: SIX,
    outcomes: {
      'calc > adds': 'passed',
      'calc > adds deliberately wrong': 'failed',
      'calc > skipped on purpose': 'skipped',
      'calc > not written yet': 'skipped',
      'calc > nested > passes inside': 'passed',
      'throws from a helper': 'failed',
    },
    failures: [
      { name: 'calc > adds deliberately wrong', file: 'vitest/calc.spec.ts', line: 10 },
      { name: 'throws from a helper', file: 'vitest/calc.spec.ts', line: 31 },
    ],
  },
  {
    runner: 'jest with jest-junit',
    produce: (dir) => runJest(join(dir, 'jest')),
    // jest-junit writes a todo test as a plain <testcase>, so the file itself says it passed.
    counts: { total: 6, passed: 3, failed: 2, skipped: 1 },
    outcomes: {
      'calc adds': 'passed',
      'calc adds deliberately wrong': 'failed',
      'calc skipped on purpose': 'skipped',
      'calc not written yet': 'passed',
      'calc nested passes inside': 'passed',
      ' throws from a helper': 'failed',
    },
    failures: [
      { name: 'calc adds deliberately wrong', file: 'jest/calc.test.cjs', line: 9 },
      { name: ' throws from a helper', file: 'jest/calc.test.cjs', line: 28 },
    ],
  },
  {
    runner: 'mocha with mocha-junit-reporter',
    produce: (dir) => runMocha(join(dir, 'mocha')),
    counts: SIX,
    outcomes: {
      'calc adds': 'passed',
      'calc adds deliberately wrong': 'failed',
      'calc skipped on purpose': 'skipped',
      // mocha has no todo: a test without a body is pending.
      'calc not written yet': 'skipped',
      'calc nested passes inside': 'passed',
      'throws from a helper': 'failed',
    },
    failures: [
      { name: 'throws from a helper', file: 'mocha/calc.spec.mjs', line: 30 },
      { name: 'calc adds deliberately wrong', file: 'mocha/calc.spec.mjs', line: 11 },
    ],
  },
  ...(['xunit1', 'xunit2'] as const).map((family): Expected => ({
    runner: `pytest --junitxml (${family})`,
    produce: (dir) => runPytest(join(dir, 'pytest'), family),
    // pytest also errors outside a test: a fixture that raises is an <error>, not a <failure>.
    counts: { total: 7, passed: 2, failed: 3, skipped: 2 },
    outcomes: {
      test_divides: 'passed',
      test_divides_deliberately_wrong: 'failed',
      test_raises_in_helper: 'failed',
      test_skipped: 'skipped',
      // pytest's todo is an expected failure (xfail), written as skipped.
      test_not_written_yet: 'skipped',
      test_passes_inside: 'passed',
      test_errors_in_setup: 'error',
    },
    failures: [
      { name: 'test_divides_deliberately_wrong', file: 'pytest/test_calc.py', line: 11 },
      { name: 'test_raises_in_helper', file: 'pytest/test_calc.py', line: 15 },
      { name: 'test_errors_in_setup', file: 'pytest/test_calc.py', line: 35 },
    ],
  })),
  ...(['junit', 'tap'] as const).map((formatter): Expected => ({
    runner: `bats --formatter ${formatter}`,
    produce: (dir) => runBats(join(dir, 'bats'), formatter),
    // Bats has neither todo nor nested groups.
    counts: { total: 4, passed: 1, failed: 2, skipped: 1 },
    outcomes: {
      'echo works': 'passed',
      'arithmetic deliberately wrong': 'failed',
      'calls a missing command': 'failed',
      'skipped on purpose': 'skipped',
    },
    failures: [
      { name: 'arithmetic deliberately wrong', file: 'bats/calc.bats', line: 10 },
      { name: 'calls a missing command', file: 'bats/calc.bats', line: 14 },
    ],
  })),
  {
    runner: "perl's prove -v (TAP with Test::More)",
    produce: (dir) => runProve(join(dir, 'prove')),
    counts: SIX,
    outcomes: {
      adds: 'passed',
      'adds deliberately wrong': 'failed',
      'throws from a helper': 'failed',
      // Test::More's skip() writes "ok 4 # skip reason": the point has no name.
      '': 'skipped',
      'not written yet': 'skipped',
      'passes inside': 'passed',
    },
    failures: [
      { name: 'adds deliberately wrong', file: 'prove/t/calc.t', line: 8 },
      { name: 'throws from a helper', file: 'prove/t/calc.t', line: 9 },
    ],
  },
];

describe('conformance matrix: result files written by real test runners', () => {
  let repo: FixtureRepo;
  const outputs = new Map<string, RunnerOutput>();
  beforeAll(async () => {
    repo = await fixtureRepo();
    // Each runner writes into its own project directory, so they run side by side; pytest's two
    // families share one directory and run one after the other.
    const sequential = async (entries: Expected[]) => {
      for (const entry of entries) outputs.set(entry.runner, await entry.produce(repo.dir));
    };
    const pytest = MATRIX.filter((e) => e.runner.startsWith('pytest'));
    const bats = MATRIX.filter((e) => e.runner.startsWith('bats'));
    const nodeTest = MATRIX.filter((e) => e.runner.startsWith('node --test'));
    const others = MATRIX.filter((e) => !pytest.includes(e) && !bats.includes(e) && !nodeTest.includes(e));
    await Promise.all([
      sequential(pytest),
      sequential(bats),
      sequential(nodeTest),
      ...others.map((e) => sequential([e])),
    ]);
  }, 480_000);
  afterAll(async () => {
    await rm(repo.dir, { recursive: true, force: true });
  });

  it.each(MATRIX.map((entry) => [entry.runner, entry] as const))('%s', async (_runner, expected) => {
    const output = outputs.get(expected.runner)!;
    const parsed = await parseResultFiles([output.file]);
    expect(parsed.problems).toEqual([]);
    const tests = await summarizeResults(parsed, { pathMap: [], repoRoot: repo.dir });
    const outcomes = Object.fromEntries(parsed.suites.flatMap((s) => s.cases).map((c) => [c.name, c.status]));
    expect(outcomes).toEqual(expected.outcomes);
    const { failures, ...counts } = tests;
    expect(counts).toEqual(expected.counts);
    expect(failures.map(({ name, file, line }) => ({ name, file, line }))).toEqual(expected.failures);
    for (const failure of failures) expect(failure.message).not.toBe('');
    // The runner itself reported a failure, so ovenproof must never exit 0 on its file.
    expect(output.exitCode).not.toBe(0);
    expect((await runCommand(resultsCommand, [output.file], { cwd: repo.dir })).code).toBe(1);
  });

  it('several files together, and results from an instance path mapped with path-map', async () => {
    const parsed = await parseResultFiles([
      outputs.get('vitest, JUnit reporter')!.file,
      outputs.get('bats --formatter junit')!.file,
    ]);
    // As if the suite had run in /opt/app on the instance: absolute paths need the path-map.
    for (const c of parsed.suites.flatMap((s) => s.cases)) {
      if (c.file) c.file = `/opt/app/${c.file}`;
      c.details = c.details.replace(/calc\.(spec\.ts|bats)/g, '/opt/app/$&');
    }
    const unmapped = await summarizeResults(parsed, { pathMap: [], repoRoot: repo.dir });
    expect(unmapped.failures.map((f) => f.file)).toEqual([null, null, null, null]);
    const mapped = await summarizeResults(parsed, {
      pathMap: [{ from: '/opt/app', to: 'vitest' }],
      repoRoot: repo.dir,
    });
    expect(mapped.failures.map(({ name, file, line }) => ({ name, file, line }))).toEqual([
      { name: 'calc > adds deliberately wrong', file: 'vitest/calc.spec.ts', line: 10 },
      { name: 'throws from a helper', file: 'vitest/calc.spec.ts', line: 31 },
      // /opt/app/calc.bats maps to vitest/calc.bats, which git does not track: no location, still counted.
      { name: 'arithmetic deliberately wrong', file: null, line: null },
      { name: 'calls a missing command', file: null, line: null },
    ]);
    expect(mapped).toMatchObject({ total: 10, failed: 4 });
  });
});
