import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { formatFinalReport } from '../../src/cli/final-report.js';
import { createStderrLogger } from '../../src/cli/logger.js';
import { generateEd25519KeyPair } from '../../src/ssh/index.js';
import type { RunResult } from '../../src/common/run-result.js';

const result: RunResult = {
  status: 'failed',
  error: null,
  provider: 'local',
  commit: null,
  image: {
    id: 'img-1',
    baseImageId: 'img-0',
    bakeKey: 'k',
    cacheHit: true,
    reusedFromRun: 'op-earlier',
    kept: true,
    promoted: false,
    expiresAt: '2026-12-01T00:00:00Z',
  },
  instance: { id: 'i-1', address: '127.0.0.1:2222' },
  stages: [{ name: 'test', status: 'ok', startedAt: '2026-11-24T00:00:00.000Z', durationMs: 1500 }],
  tests: {
    total: 2,
    passed: 1,
    failed: 1,
    skipped: 0,
    failures: [
      {
        name: 'evil\n::error file=x::owned',
        suite: '::warning::s',
        file: 'tests/a.bats',
        line: 7,
        message: 'line one\n::set-output name=x::y',
        details: '',
      },
    ],
  },
  annotations: 0,
  resources: [],
};

describe('CLI output', () => {
  it('the final report puts failures at file:line and never starts a line with a workflow command', () => {
    const text = formatFinalReport(result);
    expect(text).toContain('tests/a.bats:7');
    expect(text).toContain('FAILED: 2 tests, 1 passed, 1 failed');
    for (const line of text.split('\n')) expect(line.startsWith('::')).toBe(false);
    expect(text.split('\n').filter((l) => l.includes('::error'))).toHaveLength(1);
  });

  it('masks every line of a registered multi-line secret', () => {
    const stream = new PassThrough();
    let out = '';
    stream.on('data', (c: Buffer) => (out += c.toString()));
    const log = createStderrLogger(stream);
    const key = generateEd25519KeyPair('test');
    log.mask(key.privateKey);
    log.info(`key:\n${key.privateKey}`);
    const body = key.privateKey.split('\n').filter((l) => l.trim().length >= 4 && !l.startsWith('-----'));
    expect(body.length).toBeGreaterThan(0);
    for (const line of body) expect(out).not.toContain(line);
    expect(out).toContain('***');
  });
});
