import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { publishResult, startCheckRun, type CheckRunOptions } from '../../src/report/index.js';
import { startFakeGitHub, type FakeGitHub } from '../support/github-api.js';
import { failure, manyFailures, recordingLogger, runResult, SHA } from './fixtures.js';

let gh: FakeGitHub;
beforeEach(async () => {
  gh = await startFakeGitHub();
});
afterEach(async () => {
  await gh.close();
});

function options(
  extra: Partial<CheckRunOptions> = {},
): CheckRunOptions & { log: ReturnType<typeof recordingLogger> } {
  return {
    token: 'ghs_faketoken',
    apiUrl: gh.url,
    owner: 'octo',
    repo: 'app',
    sha: SHA,
    name: 'ovenproof',
    serverUrl: 'https://github.com',
    jobSummary: false,
    commandSink: () => undefined,
    log: recordingLogger(),
    ...extra,
  } as CheckRunOptions & { log: ReturnType<typeof recordingLogger> };
}

describe('live check run', () => {
  it('is created in_progress on the head SHA, shows stage progress and completes with annotations', async () => {
    const reporter = await startCheckRun(options({ detailsUrl: 'https://example.test/run/1' }));
    expect(gh.checkRuns).toHaveLength(1);
    const run = gh.checkRuns[0]!;
    expect(run).toMatchObject({
      head_sha: SHA,
      name: 'ovenproof',
      status: 'in_progress',
      details_url: 'https://example.test/run/1',
    });

    reporter.onEvent({ type: 'stage-start', stage: 'bake', at: Date.now() });
    reporter.onEvent({
      type: 'progress',
      stage: 'bake',
      label: 'Mounting volume',
      fraction: 0.4,
      at: Date.now(),
    });
    await reporter.settled();
    const live = run.summaries.at(-1)!;
    expect(live).toContain('Bake');
    expect(live).toMatch(/█+░+ \d+%/);
    expect(live).toMatch(/elapsed \d/);

    const outcome = await reporter.finish(runResult([failure(1), failure(2, { file: null, line: null })]));
    expect(outcome).toEqual({ checkRunUrl: run.html_url, annotations: 1 });
    expect(run).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(run.annotations).toEqual([
      expect.objectContaining({
        path: 'tests/test_service_1.py',
        start_line: 11,
        end_line: 11,
        annotation_level: 'failure',
        title: 'tests.test_service › test_case_1',
        message: 'AssertionError: expected 1 == 2',
      }),
    ]);
    // The failure without a location is listed in the summary instead.
    expect(run.output.summary).toContain('test\\_case\\_2');
    expect(run.output.summary).toContain('no location in the repository');
  });

  it('coalesces a burst of progress events into at most one update before the final one', async () => {
    const reporter = await startCheckRun(options());
    for (let i = 0; i < 100; i++) {
      reporter.onEvent({
        type: 'progress',
        stage: 'bake',
        label: `step ${i}`,
        fraction: i / 100,
        at: Date.now(),
      });
    }
    await reporter.finish(runResult([]), { conclusion: 'cancelled' });
    const updates = gh.requests.filter((r) => r.operation === 'checks/update');
    // One immediate update for the first event, the trailing one is cancelled by finish(), then the final.
    expect(updates.length).toBeLessThanOrEqual(2);
    expect(gh.checkRuns[0]).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
  });

  it('sends 120 failures in exactly 3 annotation requests, none over 50', async () => {
    const reporter = await startCheckRun(options());
    const outcome = await reporter.finish(runResult(manyFailures(120)));
    const counts = gh.annotationRequests().map((r) => r.count);
    expect(counts).toEqual([50, 50, 20]);
    expect(outcome.annotations).toBe(120);
    expect(gh.checkRuns[0]!.annotations).toHaveLength(120);
    expect(new Set(gh.checkRuns[0]!.annotations.map((a) => a.title)).size).toBe(120);
  });

  it('keeps the summary within 65,535 bytes and valid UTF-8 for a 1 MB failure message', async () => {
    const huge = 'é€😀 fail '.repeat(80_000); // ≈ 1.3 MB of multi-byte text
    const reporter = await startCheckRun(options());
    const tests = [failure(0, { message: huge, details: huge, name: '😀'.repeat(400) }), ...manyFailures(3)];
    await reporter.finish(runResult(tests));
    const final = gh.requests.at(-1)!;
    const body = final.body as {
      output: {
        summary: string;
        annotations: Array<{ message: string; raw_details: string; title: string }>;
      };
    };
    expect(Buffer.byteLength(body.output.summary)).toBeLessThanOrEqual(65_535);
    const bytes = Buffer.from(body.output.summary, 'utf8');
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes)).not.toThrow();
    const first = body.output.annotations[0]!;
    expect(Buffer.byteLength(first.message)).toBeLessThanOrEqual(65_535);
    expect(first.message).toMatch(/cut to fit/);
    expect(first.message).not.toContain('\uFFFD');
    expect(Array.from(first.title)).toHaveLength(255);
  });

  it('cuts a summary that would exceed 65,535 bytes with a visible note', async () => {
    // Each listed failure takes ~1 KB (long name and first message line), so 150 of them overflow 64 KB.
    const tests = Array.from({ length: 150 }, (_, i) =>
      failure(i, { name: `test_${'x'.repeat(300)}_${i}`, message: `AssertionError: ${'y'.repeat(600)}` }),
    );
    const reporter = await startCheckRun(options());
    await reporter.finish(runResult(tests));
    const summary = gh.checkRuns[0]!.output.summary!;
    expect(Buffer.byteLength(summary)).toBeLessThanOrEqual(65_535);
    expect(summary).toMatch(
      /Summary cut to GitHub's 65,535-byte limit: \d+ more failing tests are not listed/,
    );
    expect(summary).toContain('```mermaid');
    expect(gh.annotationRequests().every((r) => r.count <= 50)).toBe(true);
    expect(gh.checkRuns[0]!.annotations).toHaveLength(150);
  });

  it('falls back to workflow-command annotations on 403 and says so once', async () => {
    gh.failWith(403);
    const lines: string[] = [];
    const opts = options({ commandSink: (line) => lines.push(line) });
    const reporter = await startCheckRun(opts);
    reporter.onEvent({ type: 'stage-start', stage: 'build', at: Date.now() });
    const outcome = await reporter.finish(runResult(manyFailures(12)));
    expect(outcome.checkRunUrl).toBeNull();
    expect(outcome.annotations).toBe(9);
    expect(lines).toHaveLength(10);
    expect(lines[0]).toBe(
      '::error title=tests.test_service › test_case_0,file=tests/test_service_0.py,line=10,endLine=10::AssertionError%3A expected 0 == 1'.replace(
        'AssertionError%3A',
        'AssertionError:',
      ),
    );
    expect(lines[9]).toMatch(/^::error title=3 more failing tests::3 more failures/);
    const warnings = opts.log.lines.filter((l) => l.includes('HTTP 403'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('workflow_run');
    expect(opts.log.lines.join('\n')).not.toContain('ghs_faketoken');
    expect(opts.log.masked).toContain('ghs_faketoken');
    expect(gh.checkRuns).toHaveLength(0);
  });

  it('switches to the fallback when the token loses access mid-run', async () => {
    const lines: string[] = [];
    const opts = options({ commandSink: (line) => lines.push(line) });
    const reporter = await startCheckRun(opts);
    gh.failWith(403, { method: 'PATCH' });
    const outcome = await reporter.finish(runResult(manyFailures(2)));
    expect(outcome).toEqual({ checkRunUrl: null, annotations: 2 });
    expect(lines).toHaveLength(2);
    expect(opts.log.lines.filter((l) => l.includes('HTTP 403'))).toHaveLength(1);
  });

  it('annotates a failed build with the tail of the build log on the workflow file', async () => {
    const reporter = await startCheckRun(options({ fallbackPath: '.github/workflows/ci.yml' }));
    const result = runResult([], {
      status: 'error',
      error: { stage: 'build', message: 'build command exited with 2' },
      image: null,
      instance: null,
      stages: [{ name: 'build', status: 'failed', startedAt: '2026-03-01T12:00:00.000Z', durationMs: 900 }],
    });
    await reporter.finish(result, {
      buildLogTail: 'gcc: error: main.c: No such file\nmake: *** [all] Error 1',
    });
    const run = gh.checkRuns[0]!;
    expect(run.conclusion).toBe('failure');
    expect(run.output.title).toBe('Build failed: build command exited with 2');
    expect(run.annotations).toEqual([
      expect.objectContaining({
        path: '.github/workflows/ci.yml',
        title: 'Build failed',
        message: expect.stringContaining('make: *** [all] Error 1'),
        raw_details: 'gcc: error: main.c: No such file\nmake: *** [all] Error 1',
      }),
    ]);
  });

  it('names the failed stage for a bake failure', async () => {
    const reporter = await startCheckRun(options());
    const result = runResult([], {
      status: 'error',
      error: { stage: 'bake', message: 'umount: target is busy (held by pid 4242)' },
      image: null,
      instance: null,
    });
    await reporter.finish(result, { conclusion: 'timed_out' });
    const run = gh.checkRuns[0]!;
    expect(run).toMatchObject({ conclusion: 'timed_out' });
    expect(run.output.title).toBe('Bake failed: umount: target is busy (held by pid 4242)');
    expect(run.output.summary).toContain('The **bake** stage failed');
  });

  it('talks to a GitHub Enterprise Server base URL (/api/v3)', async () => {
    const reporter = await startCheckRun(options({ apiUrl: gh.ghesUrl, serverUrl: undefined }));
    await reporter.finish(runResult([failure(3)]));
    expect(gh.requests.every((r) => r.url.startsWith('/api/v3/repos/octo/app/check-runs'))).toBe(true);
    // Links point at the GHES web host derived from the API URL.
    expect(gh.checkRuns[0]!.output.summary).toContain(
      `${gh.url}/octo/app/blob/${SHA}/tests/test_service_3.py#L13`,
    );
  });
});

describe('publishResult', () => {
  it('posts a finished run as one complete check run, the first batch in the create request', async () => {
    const outcome = await publishResult(runResult(manyFailures(120)), options());
    expect(gh.checkRuns).toHaveLength(1);
    const run = gh.checkRuns[0]!;
    expect(run).toMatchObject({ head_sha: SHA, status: 'completed', conclusion: 'failure' });
    expect(run.annotations).toHaveLength(120);
    expect(gh.annotationRequests().map((r) => [r.request.operation, r.count])).toEqual([
      ['checks/create', 50],
      ['checks/update', 50],
      ['checks/update', 20],
    ]);
    expect(outcome).toEqual({ checkRunUrl: run.html_url, annotations: 120 });
  });

  it('creates and completes a passing run in one request', async () => {
    await publishResult(runResult([]), options());
    expect(gh.requests.map((r) => r.operation)).toEqual(['checks/create']);
    expect(gh.checkRuns[0]).toMatchObject({ status: 'completed', conclusion: 'success' });
  });

  it('throws a pipeline error (exit 2) naming the permission on 403', async () => {
    gh.failWith(403);
    await expect(publishResult(runResult([failure(1)]), options())).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/HTTP 403.*checks: write/s),
    });
  });

  it('retries a transient 502 and succeeds', async () => {
    gh.failWith(502, { times: 1 });
    const outcome = await publishResult(runResult([failure(1)]), options());
    expect(outcome.annotations).toBe(1);
    expect(gh.requests.map((r) => r.status)).toEqual([502, 201]);
  });
});
