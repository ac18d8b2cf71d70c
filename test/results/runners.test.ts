import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseResultFiles, summarizeResults, type TestFailure } from '../../src/results/index.js';
import {
  fixtureRepo,
  runBats,
  runMocha,
  runNodeTap,
  runPytest,
  runVitest,
  type FixtureRepo,
} from './fixtures.js';

function brief(failures: TestFailure[]): Array<Pick<TestFailure, 'name' | 'file' | 'line'>> {
  return failures.map(({ name, file, line }) => ({ name, file, line }));
}

describe('result files written by real test runners', () => {
  let repo: FixtureRepo;
  beforeAll(async () => {
    repo = await fixtureRepo();
  });
  afterAll(async () => {
    await rm(repo.dir, { recursive: true, force: true });
  });

  const summarize = async (file: string) => {
    const parsed = await parseResultFiles([file]);
    expect(parsed.problems).toEqual([]);
    return { parsed, tests: await summarizeResults(parsed, { pathMap: [], repoRoot: repo.dir }) };
  };

  it('vitest JUnit: counts, names, failing lines in the spec file', async () => {
    const { parsed, tests } = await summarize(await runVitest(join(repo.dir, 'vitest')));
    expect(tests).toMatchObject({ total: 4, passed: 1, failed: 2, skipped: 1 });
    expect(brief(tests.failures)).toEqual([
      { name: 'calc > adds deliberately wrong', file: 'vitest/calc.spec.ts', line: 10 },
      { name: 'throws from a helper', file: 'vitest/calc.spec.ts', line: 19 },
    ]);
    expect(tests.failures[0]!.message).toContain('expected 4 to be 5');
    expect(parsed.suites[0]!.cases.find((c) => c.status === 'skipped')!.name).toBe(
      'calc > is skipped on purpose',
    );
  });

  it('mocha with mocha-junit-reporter: suite file attribute plus stack line', async () => {
    const { tests } = await summarize(await runMocha(join(repo.dir, 'mocha')));
    expect(tests).toMatchObject({ total: 3, passed: 1, failed: 1, skipped: 1 });
    expect(brief(tests.failures)).toEqual([
      { name: 'mul multiplies deliberately wrong', file: 'mocha/calc.spec.mjs', line: 11 },
    ]);
    expect(tests.failures[0]!.details).toContain('AssertionError');
  });

  it('pytest JUnit (xunit1 with 0-based line attributes, and default xunit2 without them)', async () => {
    for (const family of ['xunit1', 'xunit2'] as const) {
      const { tests } = await summarize(await runPytest(join(repo.dir, 'pytest'), family));
      expect(tests).toMatchObject({ total: 4, passed: 1, failed: 2, skipped: 1 });
      expect(brief(tests.failures)).toEqual([
        { name: 'test_divides_deliberately_wrong', file: 'pytest/test_calc.py', line: 11 },
        { name: 'test_raises_in_helper', file: 'pytest/test_calc.py', line: 15 },
      ]);
      expect(tests.failures[1]!.message).toContain('ZeroDivisionError');
    }
  });

  it('bats --formatter junit: "(in test file X, line N)"', async () => {
    const { tests } = await summarize(await runBats(join(repo.dir, 'bats')));
    expect(tests).toMatchObject({ total: 3, passed: 1, failed: 1, skipped: 1 });
    expect(brief(tests.failures)).toEqual([
      { name: 'arithmetic deliberately wrong', file: 'bats/calc.bats', line: 10 },
    ]);
    expect(tests.failures[0]!.message).toContain('-eq 5');
  });

  it("node's test runner TAP: subtests, YAML diagnostics, SKIP, failing line from the stack", async () => {
    const { parsed, tests } = await summarize(await runNodeTap(join(repo.dir, 'node-tap')));
    expect(tests).toMatchObject({ total: 4, passed: 1, failed: 2, skipped: 1 });
    expect(brief(tests.failures)).toEqual([
      { name: 'upper-cases deliberately wrong', file: 'node-tap/calc.spec.mjs', line: 10 },
      { name: 'top-level failure', file: 'node-tap/calc.spec.mjs', line: 17 },
    ]);
    expect(tests.failures[0]!.suite).toBe('strings');
    expect(tests.failures[1]!.message).toBe('top-level exploded');
    expect(parsed.suites[0]!.cases.map((c) => c.status)).toEqual(['passed', 'failed', 'skipped', 'failed']);
  });

  it('multiple files together, and results from an instance path mapped with path-map', async () => {
    const files = [await runVitest(join(repo.dir, 'vitest')), await runBats(join(repo.dir, 'bats'))];
    const parsed = await parseResultFiles(files);
    // As if the suite had run in /opt/app on the instance: absolute paths need the path-map.
    for (const c of parsed.suites.flatMap((s) => s.cases)) {
      if (c.file) c.file = `/opt/app/${c.file}`;
      c.details = c.details.replace(/calc\.(spec\.ts|bats)/g, '/opt/app/$&');
    }
    const unmapped = await summarizeResults(parsed, { pathMap: [], repoRoot: repo.dir });
    expect(unmapped.failures.map((f) => f.file)).toEqual([null, null, null]);
    expect(unmapped.failed).toBe(3);
    const mapped = await summarizeResults(parsed, {
      pathMap: [{ from: '/opt/app', to: 'vitest' }],
      repoRoot: repo.dir,
    });
    expect(brief(mapped.failures).slice(0, 2)).toEqual([
      { name: 'calc > adds deliberately wrong', file: 'vitest/calc.spec.ts', line: 10 },
      { name: 'throws from a helper', file: 'vitest/calc.spec.ts', line: 19 },
    ]);
    // /opt/app/calc.bats maps to vitest/calc.bats, which git does not track: no location, still counted.
    expect(mapped.failures[2]).toMatchObject({
      name: 'arithmetic deliberately wrong',
      file: null,
      line: null,
    });
    expect(mapped).toMatchObject({ total: 7, failed: 3 });
  });
});
