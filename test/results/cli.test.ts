import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultsCommand } from '../../src/cli/commands/results.js';
import { runCommand } from '../support/cli-io.js';

const cli = (args: string[], cwd: string) => runCommand(resultsCommand, args, { cwd });

describe('ovenproof results', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ovenproof-cli-results-'));
    await writeFile(
      join(dir, 'pass.xml'),
      '<testsuites><testsuite name="s"><testcase name="a" time="0.5"/><testcase name="b"><skipped/></testcase></testsuite></testsuites>',
    );
    await writeFile(
      join(dir, 'fail.tap'),
      'TAP version 14\nok 1 - one\nnot ok 2 - two\n  ---\n  message: went wrong\n  at: /opt/app/t.js:4:2\n  ...\n1..2\n',
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 0 when all passed and prints a table', async () => {
    const run = await cli(['pass.xml'], dir);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toBe('tests: 2 total, 1 passed, 0 failed, 1 skipped\n');
  });

  it('exits 1 on a failed test and prints the SPEC tests object with --json', async () => {
    const run = await cli(['pass.xml', 'fail.tap', '--json', '--format', 'auto'], dir);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual({
      total: 4,
      passed: 2,
      failed: 1,
      skipped: 1,
      failures: [
        {
          name: 'two',
          suite: '',
          file: null,
          line: null,
          message: 'went wrong',
          details: expect.stringContaining('went wrong'),
        },
      ],
    });
  });

  it('exits 3 on bad flags, bad path-map, no files and unreadable input', async () => {
    expect((await cli(['pass.xml', '--format', 'xml'], dir)).stderr).toContain(
      '--format: "xml" is not allowed',
    );
    expect((await cli(['pass.xml', '--path-map', 'nothing'], dir)).stderr).toContain(
      'path-map: "nothing" is not a pair',
    );
    expect((await cli(['pass.xml', '--path-map', '/opt=../..'], dir)).stderr).toContain(
      'must be a path inside the repository',
    );
    expect((await cli(['--bogus', 'pass.xml'], dir)).code).toBe(3);
    const strict = await cli(['pass.xml', '--strict=maybe'], dir);
    expect(strict.code).toBe(3);
    expect(strict.stderr).toContain('--strict: "maybe" is not allowed (use --strict=true or --strict=false)');
    expect((await cli([], dir)).stderr).toContain('no result file given');
    const missing = await cli(['pass.xml', 'nope.xml'], dir);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('nope.xml cannot read: ENOENT');
    expect(missing.stdout).toContain('2 total');
  });

  it('forces a format', async () => {
    const run = await cli(['fail.tap', '--format', 'junit'], dir);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('not well-formed XML');
  });
});
