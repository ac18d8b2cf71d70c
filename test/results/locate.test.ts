import { describe, expect, it } from 'vitest';
import { RepoLocator, extractFrames, parsePathMap, type TestCase } from '../../src/results/index.js';

const tracked = new Set([
  'module-a/src/test/java/com/acme/calc/CalcTest.java',
  'module-b/src/test/java/com/acme/other/CalcTest.java',
  'pkg/util/strings_test.go',
  'pkg/math/strings_test.go',
  'spec/models/user_spec.rb',
  'tests/Unit/CalcTest.php',
  'tests/Calc.Tests/CalcTests.cs',
  'app/test/unit/helper.test.js',
  'app/test/e2e/helper.test.js',
  'tests/test_calc.py',
]);

function failing(details: string, extra: Partial<TestCase> = {}): TestCase {
  return {
    name: 't',
    suite: '',
    status: 'failed',
    durationMs: null,
    message: '',
    details,
    file: null,
    line: null,
    stdout: '',
    stderr: '',
    ...extra,
  };
}

describe('locating failures from stack traces', () => {
  const locator = new RepoLocator(tracked, '/work/repo', parsePathMap(['/opt/app=.', '/src=tests']));

  it.each([
    [
      'Java (package path disambiguates same-named classes)',
      'java.lang.AssertionError: x\n\tat org.junit.Assert.fail(Assert.java:89)\n\tat com.acme.calc.CalcTest.adds(CalcTest.java:42)',
      'module-a/src/test/java/com/acme/calc/CalcTest.java',
      42,
    ],
    [
      'Go (package import path disambiguates)',
      '    strings_test.go:17: got "a", want "b"',
      'pkg/util/strings_test.go',
      17,
      'example.com/proj/pkg/util',
    ],
    [
      'Ruby',
      "expected true\n# /opt/app/spec/models/user_spec.rb:12:in `block (2 levels) in <top (required)>'",
      'spec/models/user_spec.rb',
      12,
    ],
    [
      'PHP (PHPUnit)',
      'Failed asserting that 2 matches expected 3.\n\n/opt/app/tests/Unit/CalcTest.php:23',
      'tests/Unit/CalcTest.php',
      23,
    ],
    [
      'PHP native trace',
      '#0 /opt/app/tests/Unit/CalcTest.php(31): Calc->div()',
      'tests/Unit/CalcTest.php',
      31,
    ],
    [
      '.NET',
      'Assert.Equal() Failure\n   at Calc.Tests.CalcTests.Adds() in /src/Calc.Tests/CalcTests.cs:line 18',
      'tests/Calc.Tests/CalcTests.cs',
      18,
    ],
    [
      'Python traceback',
      'Traceback (most recent call last):\n  File "/usr/lib/python3/dist-packages/x.py", line 3, in f\n  File "/opt/app/tests/test_calc.py", line 9, in test_x',
      'tests/test_calc.py',
      9,
    ],
    [
      'Node with node_modules frames first',
      'Error: x\n    at expect (/opt/app/node_modules/expect/build/index.js:10:5)\n    at Object.<anonymous> (/opt/app/app/test/unit/helper.test.js:7:3)',
      'app/test/unit/helper.test.js',
      7,
    ],
  ])('%s', (_label, details, file, line, suite = '') => {
    expect(locator.locate(failing(details, { suite }))).toEqual({ file, line });
  });

  it('an ambiguous relative path gets no location rather than the first match', () => {
    expect(locator.locate(failing('at f (helper.test.js:4:1)'))).toEqual({ file: null, line: null });
    expect(locator.locate(failing('at f (unit/helper.test.js:4:1)'))).toEqual({
      file: 'app/test/unit/helper.test.js',
      line: 4,
    });
  });

  it('never returns a path outside the repository', () => {
    for (const path of [
      '/etc/passwd',
      '../../etc/passwd',
      '/opt/app/../../etc/passwd',
      '/opt/app/../secret.js',
    ]) {
      expect(locator.resolve(path)).toBeNull();
    }
    expect(locator.locate(failing('x', { file: '/opt/app/../../../etc/passwd', line: 1 }))).toEqual({
      file: null,
      line: null,
    });
  });

  it('keeps frames in order and ignores numbers that are not file positions', () => {
    const frames = extractFrames('took 1.5:3 s\n at a (file:///x/a%20b.mjs:1:2)\n b.py:4: E');
    expect(frames.map((f) => `${f.file}:${f.line}`)).toEqual(['/x/a b.mjs:1', 'b.py:4']);
  });
});
