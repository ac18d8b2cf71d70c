import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { publishCommand } from '../../src/cli/commands/publish.js';
import { startFakeGitHub, type FakeGitHub } from '../support/github-api.js';
import { manyFailures, runResult } from './fixtures.js';
import { captureIo } from '../support/cli-io.js';

const S = '1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e';
let gh: FakeGitHub;
let dir: string;
// @actions/core resolves $GITHUB_STEP_SUMMARY once per process: every test of this file shares one file.
const summaryPath = join(tmpdir(), `ovenproof-publish-summary-${process.pid}.md`);

beforeEach(async () => {
  gh = await startFakeGitHub();
  dir = await mkdtemp(join(tmpdir(), 'ovenproof-publish-'));
});
afterEach(async () => {
  await gh.close();
});

const io = (env: NodeJS.ProcessEnv) => captureIo({ env, cwd: dir });

async function resultFile(content: unknown, name = 'r.json'): Promise<string> {
  await writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  return name;
}

describe('ovenproof publish', () => {
  it('posts r.json with 120 failures as one check run on S with 120 annotations, exit 0', async () => {
    await resultFile(runResult(manyFailures(120)));
    const c = io({ GITHUB_TOKEN: 'x', GITHUB_API_URL: gh.url });
    const code = await publishCommand.run(['--result-json', 'r.json', '--sha', S, '--repo', 'o/r'], c.io);
    expect(c.stderr()).toContain('published check run "ovenproof" on');
    expect(code).toBe(0);
    expect(gh.checkRuns).toHaveLength(1);
    const run = gh.checkRuns[0]!;
    expect(run).toMatchObject({
      owner: 'o',
      repo: 'r',
      head_sha: S,
      name: 'ovenproof',
      status: 'completed',
      conclusion: 'failure',
    });
    expect(run.annotations).toHaveLength(120);
    const counts = gh.annotationRequests().map((r) => r.count);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(120);
    expect(Math.max(...counts)).toBeLessThanOrEqual(50);
    expect(c.stdout()).toBe(`${run.html_url}\n`);
  });

  it('takes the head SHA of the workflow_run event and GITHUB_REPOSITORY when flags are absent', async () => {
    const require = createRequire(import.meta.url);
    const examples = require('@octokit/webhooks-examples') as Array<{ name: string; examples: unknown[] }>;
    const event = examples.find((d) => d.name === 'workflow_run')!.examples[0];
    await writeFile(join(dir, 'event.json'), JSON.stringify(event));
    await resultFile(runResult([]));
    const c = io({
      GITHUB_TOKEN: 'x',
      GITHUB_API_URL: gh.ghesUrl,
      GITHUB_REPOSITORY: 'octo-org/octo-repo',
      GITHUB_EVENT_NAME: 'workflow_run',
      GITHUB_EVENT_PATH: join(dir, 'event.json'),
      GITHUB_SHA: 'ffffffffffffffffffffffffffffffffffffffff',
    });
    expect(await publishCommand.run(['--result-json', 'r.json', '--check-name', 'image tests'], c.io)).toBe(
      0,
    );
    expect(gh.checkRuns[0]).toMatchObject({
      head_sha: '5779607b49aab1200488439f02372c57b4f75444',
      name: 'image tests',
      conclusion: 'success',
    });
  });

  it.each([
    ['no --result-json', [], /--result-json FILE is required/],
    ['an unknown flag', ['--result-json', 'r.json', '--frobnicate'], /Unknown option '--frobnicate'/],
    [
      'a missing file',
      ['--result-json', 'nope.json', '--sha', S, '--repo', 'o/r'],
      /nope.json: cannot read it \(ENOENT\)/,
    ],
    [
      'a bad repo',
      ['--result-json', 'r.json', '--sha', S, '--repo', 'just-a-name'],
      /--repo "just-a-name" is not of the form owner\/name/,
    ],
    [
      'a short SHA',
      ['--result-json', 'r.json', '--sha', 'abc123', '--repo', 'o/r'],
      /--sha "abc123" is not a full 40-character commit SHA/,
    ],
  ])('exits 3 on %s', async (_what, args, message) => {
    await resultFile(runResult([]));
    const c = io({ GITHUB_TOKEN: 'x', GITHUB_API_URL: gh.url });
    expect(await publishCommand.run(args, c.io)).toBe(3);
    expect(c.stderr()).toMatch(message);
    expect(gh.requests).toHaveLength(0);
  });

  it('exits 3 naming the bad field of a result file', async () => {
    const broken = runResult(manyFailures(1)) as unknown as { tests: { failures: Array<{ line: unknown }> } };
    broken.tests.failures[0]!.line = 'twelve';
    await resultFile(broken);
    await resultFile('{"status": "passed",', 'truncated.json');
    const c = io({ GITHUB_TOKEN: 'x', GITHUB_API_URL: gh.url });
    expect(await publishCommand.run(['--result-json', 'r.json', '--sha', S, '--repo', 'o/r'], c.io)).toBe(3);
    expect(c.stderr()).toMatch(/r\.json is not an ovenproof result JSON: tests\.failures\.0\.line: /);
    expect(
      await publishCommand.run(['--result-json', 'truncated.json', '--sha', S, '--repo', 'o/r'], c.io),
    ).toBe(3);
    expect(c.stderr()).toMatch(/truncated\.json: not valid JSON/);
  });

  it('exits 3 without a token and 2 when the API refuses, without printing the token', async () => {
    await resultFile(runResult(manyFailures(3)));
    const noToken = io({ GITHUB_API_URL: gh.url });
    expect(
      await publishCommand.run(['--result-json', 'r.json', '--sha', S, '--repo', 'o/r'], noToken.io),
    ).toBe(3);
    expect(noToken.stderr()).toMatch(/GITHUB_TOKEN is not set/);

    gh.failWith(403);
    const denied = io({ GITHUB_TOKEN: 'ghs_secret_value_123', GITHUB_API_URL: gh.url });
    expect(
      await publishCommand.run(['--result-json', 'r.json', '--sha', S, '--repo', 'o/r'], denied.io),
    ).toBe(2);
    expect(denied.stderr()).toMatch(/HTTP 403.*checks: write/);
    expect(denied.stderr()).not.toContain('ghs_secret_value_123');
  });

  it('answered 403, prints one ::error file=…,line=… command per failure and the job summary, exit 2', async () => {
    await writeFile(summaryPath, '');
    await resultFile(runResult(manyFailures(4)));
    gh.failWith(403);
    const previous = process.env.GITHUB_STEP_SUMMARY;
    process.env.GITHUB_STEP_SUMMARY = summaryPath;
    let code: number;
    const c = io({ GITHUB_TOKEN: 'x', GITHUB_API_URL: gh.url, GITHUB_STEP_SUMMARY: summaryPath });
    try {
      code = await publishCommand.run(['--result-json', 'r.json', '--sha', S, '--repo', 'o/r'], c.io);
    } finally {
      if (previous === undefined) delete process.env.GITHUB_STEP_SUMMARY;
      else process.env.GITHUB_STEP_SUMMARY = previous;
    }
    expect(code).toBe(2);
    expect(gh.checkRuns).toHaveLength(0);
    const errors = c
      .stdout()
      .split('\n')
      .filter((line) => line.startsWith('::error '));
    expect(errors).toEqual(
      manyFailures(4).map((f) =>
        expect.stringMatching(
          new RegExp(
            `^::error title=[^,]*${f.name}[^,]*,file=${f.file!.replace('.', '\\.')},line=${f.line},`,
          ),
        ),
      ),
    );
    expect(c.stderr()).toMatch(
      /HTTP 403.*checks: write.*4 failing test\(s\) were reported as workflow-command annotations and in the job summary instead/,
    );
    expect(await readFile(summaryPath, 'utf8')).toContain('## ❌ 4 of 34 tests failed');
  });

  it('writes the job summary through core.summary when GITHUB_STEP_SUMMARY is set', async () => {
    await writeFile(summaryPath, '');
    await resultFile(runResult(manyFailures(2)));
    const previous = process.env.GITHUB_STEP_SUMMARY;
    process.env.GITHUB_STEP_SUMMARY = summaryPath;
    try {
      const c = io({ GITHUB_TOKEN: 'x', GITHUB_API_URL: gh.url, GITHUB_STEP_SUMMARY: summaryPath });
      expect(await publishCommand.run(['--result-json', 'r.json', '--sha', S, '--repo', 'o/r'], c.io)).toBe(
        0,
      );
    } finally {
      if (previous === undefined) delete process.env.GITHUB_STEP_SUMMARY;
      else process.env.GITHUB_STEP_SUMMARY = previous;
    }
    const summary = await readFile(summaryPath, 'utf8');
    expect(summary).toContain('## ❌ 2 of 32 tests failed');
    expect(summary).toContain('```mermaid\ngantt');
  });

  it('prints help', async () => {
    const c = io({});
    expect(await publishCommand.run(['--help'], c.io)).toBe(0);
    expect(c.stdout()).toContain('Usage: ovenproof publish --result-json FILE');
  });
});
