import mermaid from 'mermaid';
import { describe, expect, it } from 'vitest';
import { ganttChart, renderJobSummary } from '../../src/report/index.js';
import { failure, runResult, SHA } from './fixtures.js';

const options = { serverUrl: 'https://github.com', repository: 'octo/app', sha: SHA };

/**
 * Parses a gantt chart with mermaid's own parser and gantt database under Node (rendering needs a DOM,
 * parsing and task scheduling do not) and returns each task's name, start and end in ms.
 */
async function parseGantt(source: string) {
  await mermaid.parse(source);
  const diagram = await mermaid.mermaidAPI.getDiagramFromText(source);
  expect(diagram.type).toBe('gantt');
  const db = diagram.db as unknown as {
    getTasks(): Array<{ task: string; startTime: Date; endTime: Date; crit?: boolean }>;
  };
  return db.getTasks().map((t) => ({ task: t.task.trim(), start: +t.startTime, end: +t.endTime }));
}

function mermaidBlock(markdown: string): string {
  const match = /```mermaid\n([\s\S]*?)```/.exec(markdown);
  if (!match) throw new Error('no mermaid block');
  return match[1]!;
}

describe('job summary', () => {
  const result = runResult([
    failure(1),
    failure(2, { name: 'handles | pipes and *stars* ::error::x', file: 'src/deep dir/a b.ts', line: 7 }),
    failure(3, { file: null, line: null, message: 'timeout after 30s\nmore lines' }),
  ]);
  const md = renderJobSummary(result, options);

  it('has the status line and the counts table', () => {
    expect(md.split('\n')[0]).toBe('## ❌ 3 of 33 tests failed');
    expect(md).toContain(
      '| Total | Passed | Failed | Skipped |\n| ---: | ---: | ---: | ---: |\n| 33 | 30 | 3 | 0 |',
    );
  });

  it('links failing tests to file:line at the commit and lists unlocated ones', () => {
    expect(md).toContain(
      `[tests/test\\_service\\_1.py:11](https://github.com/octo/app/blob/${SHA}/tests/test_service_1.py#L11)`,
    );
    expect(md).toContain(`(https://github.com/octo/app/blob/${SHA}/src/deep%20dir/a%20b.ts#L7)`);
    // Markdown and table syntax in test names is escaped, not interpreted.
    expect(md).toContain('handles \\| pipes and \\*stars\\* ::error::x');
    expect(md).toMatch(
      /\*\*test\\_case\\_3\*\* \(tests.test\\_service\) — _no location in the repository_\n {2}<br>timeout after 30s\n/,
    );
  });

  it('shows the image, whether the bake was a cache hit, and the instance', () => {
    expect(md).toContain('| Image | `img-0123abcd` |');
    expect(md).toContain('| Bake | cache hit: reused from run `op-mfx1q2-0a1b2c3d`; promoted (kept) |');
    expect(md).toContain('| Instance | `i-local-42` |');
    const fresh = renderJobSummary(
      runResult([], {
        image: { ...result.image!, cacheHit: false, promoted: false, expiresAt: '2026-12-09T10:00:00Z' },
      }),
      options,
    );
    expect(fresh).toContain('| Bake | baked in this run; in the bake cache until 2026-12-09T10:00:00Z |');
  });

  it('has a Mermaid gantt block that mermaid parses into the stage timings', async () => {
    const tasks = await parseGantt(mermaidBlock(md));
    expect(tasks).toEqual([
      { task: 'Build 1.2s', start: 0, end: 1200 },
      { task: 'Bake 5.3s', start: 1200, end: 6500 },
      { task: 'Launch 13.0s', start: 6500, end: 19_500 },
      { task: 'Test 42.0s', start: 19_500, end: 61_500 },
      { task: 'Report 800ms', start: 61_500, end: 62_300 },
      { task: 'Teardown 2.1s', start: 62_300, end: 64_400 },
    ]);
  });

  it('leaves skipped stages out of the chart and marks failed ones critical', async () => {
    const stages = [
      {
        name: 'build' as const,
        status: 'ok' as const,
        startedAt: '2026-03-01T12:00:00.000Z',
        durationMs: 500,
      },
      {
        name: 'bake' as const,
        status: 'failed' as const,
        startedAt: '2026-03-01T12:00:00.500Z',
        durationMs: 0,
      },
      {
        name: 'launch' as const,
        status: 'skipped' as const,
        startedAt: '2026-03-01T12:00:00.500Z',
        durationMs: 0,
      },
    ];
    const chart = ganttChart(stages);
    expect(chart).toContain(':crit, s1, 500, 1ms');
    expect(await parseGantt(mermaidBlock(chart + '\n'))).toEqual([
      { task: 'Build 500ms', start: 0, end: 500 },
      { task: 'Bake 0ms', start: 500, end: 501 },
    ]);
  });

  it('charts each stage with its steps, and shows the failure image and the cost', async () => {
    const withSteps = runResult([failure(1)], {
      stages: [
        {
          name: 'launch',
          status: 'ok',
          startedAt: '2026-03-01T12:00:00.000Z',
          durationMs: 20_000,
          steps: [
            { name: 'request', startedAt: '2026-03-01T12:00:00.000Z', durationMs: 300 },
            { name: 'boot', startedAt: '2026-03-01T12:00:00.300Z', durationMs: 18_000 },
            { name: 'ssh', startedAt: '2026-03-01T12:00:18.300Z', durationMs: 1_700 },
          ],
        },
        { name: 'test', status: 'failed', startedAt: '2026-03-01T12:00:20.000Z', durationMs: 7_000 },
      ],
      failureImage: { id: 'img-0a1b2c3d4e5f', expiresAt: '2026-03-04T12:00:30Z' },
      cost: {
        instanceSeconds: { local: 31 },
        storageGbHours: 0,
        estimatedUsd: null,
        priceSource: 'local provider',
      },
    });
    const markdown = renderJobSummary(withSteps, options);
    expect(await parseGantt(mermaidBlock(markdown))).toEqual([
      { task: 'Launch 20.0s', start: 0, end: 20_000 },
      { task: '· request 300ms', start: 0, end: 300 },
      { task: '· boot 18.0s', start: 300, end: 18_300 },
      { task: '· ssh 1.7s', start: 18_300, end: 20_000 },
      { task: 'Test 7.0s', start: 20_000, end: 27_000 },
    ]);
    expect(markdown).toContain('| Launch | ✅ ok | 20.0s | request 300ms · boot 18.0s · ssh 1.7s |');
    expect(markdown).toMatch(
      /\| Failure image \| `img-0a1b2c3d4e5f` until 2026-03-04T12:00:30Z: .*ovenproof reproduce --result-json/,
    );
    expect(markdown).toContain('| Cost | local instance 31.0s; no USD estimate \\(local provider\\) |');
  });

  it('the parser check itself rejects a broken chart', async () => {
    await expect(
      parseGantt('gantt\n  dateFormat x\n  section S\n  Build :done, s0, soon, 5ms\n'),
    ).rejects.toThrow(/Invalid date/);
  });

  it('renders without links when there is no commit', () => {
    const plain = renderJobSummary(result, { ...options, sha: null });
    expect(plain).not.toContain('https://github.com/octo/app/blob');
    expect(plain).toContain('`tests/test_service_1.py:11`');
  });
});
