/**
 * The scan of the suite's output for error messages that end in a bare `Error` (script/bare-errors.mjs),
 * and its place in the summary line of script/test: each such line is one more failure.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain ESM script without type declarations
import { bareErrorLines } from '../../script/bare-errors.mjs';

const scan = (text: string) =>
  (bareErrorLines(text) as Array<{ line: number; text: string }>).map((h) => h.text);

describe('bare Error scan', () => {
  it('flags messages whose cause was reduced to the bare class name', () => {
    const flagged = [
      'ec2:DetachVolume vol-0abc123 failed: Error',
      '::warning::could not delete volume vol-1: Error',
      // Colours of a terminal reporter do not hide it.
      '\u001b[31mcleanup of launch failed: Error\u001b[39m',
      // Inside a JSON string, e.g. a result file or a --json answer printed by a failing test.
      '  "message": "launch failed: Error",',
      'bake failed: Error.',
      '::error::Error',
      'Error',
    ];
    const plain = (line: string) => line.split('\u001b[31m').join('').split('\u001b[39m').join('').trim();
    for (const line of flagged) expect(scan(line), line).toEqual([plain(line)]);
  });

  it('leaves the word alone where it is not a lost message', () => {
    const clean = [
      '✓ test/common/errors.test.ts > formats an Error',
      'TypeError: x is not a function',
      'Error: the device never appeared',
      '  "name": "Error",',
      'bake failed: TypeError',
      'Error handling of the sweep',
      'describe > shows Error',
      'two failures: Errors in both',
      'ec2:DetachVolume vol-1 failed: IncorrectState: Volume is available (HTTP 400, request id abc)',
    ];
    for (const line of clean) expect(scan(line), line).toEqual([]);
  });

  it('reports line numbers in a whole log', () => {
    const hits = bareErrorLines('ok\nsweep: could not delete sg-1: Error\nfine\n') as Array<{ line: number }>;
    expect(hits.map((h) => h.line)).toEqual([2]);
  });
});

describe('script/test-summary.mjs --scan', () => {
  async function summary(log: string) {
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-summary-'));
    await writeFile(
      join(dir, 'fast.json'),
      JSON.stringify({
        numPassedTests: 3,
        numFailedTests: 0,
        numPendingTests: 0,
        numTodoTests: 0,
        testResults: [],
      }),
    );
    await writeFile(join(dir, 'output.log'), log);
    return promisify(execFile)(process.execPath, [
      'script/test-summary.mjs',
      join(dir, 'fast.json'),
      '--scan',
      join(dir, 'output.log'),
    ]).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
  }

  it('counts each bare Error line of the output as a failure and names it', async () => {
    const result = await summary('✓ a test\nsweep: ec2:DeleteVolume vol-9 failed: Error\n');
    expect(result.code).toBe(1);
    expect(result.stdout.trim().split('\n').at(-1)).toBe('3 passed, 1 failed');
    expect(result.stderr).toMatch(
      /ends in a bare Error \(output line 2\): sweep: ec2:DeleteVolume vol-9 failed: Error/,
    );
  });

  it('adds nothing when the output is clean', async () => {
    const result = await summary('✓ a test\nError: with its message\n');
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('3 passed, 0 failed');
  });
});
