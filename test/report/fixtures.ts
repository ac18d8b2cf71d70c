/** Result JSONs (SPEC §2.3) for the reporting tests. */
import type { RunResult } from '../../src/common/run-result.js';
import type { TestFailure } from '../../src/results/model.js';
import { silentLogger, type Logger } from '../../src/common/log.js';

export const SHA = 'ec26c3e57ca3a959ca5aad62de7213c562f8c821';

export function failure(i: number, overrides: Partial<TestFailure> = {}): TestFailure {
  return {
    name: `test_case_${i}`,
    suite: 'tests.test_service',
    file: `tests/test_service_${i % 7}.py`,
    line: 10 + i,
    message: `AssertionError: expected ${i} == ${i + 1}`,
    details: `Traceback (most recent call last):\n  File "tests/test_service_${i % 7}.py", line ${10 + i}\nAssertionError`,
    ...overrides,
  };
}

export function runResult(failures: TestFailure[], overrides: Partial<RunResult> = {}): RunResult {
  const t0 = Date.parse('2026-03-01T12:00:00.000Z');
  const at = (ms: number) => new Date(t0 + ms).toISOString();
  return {
    status: failures.length ? 'failed' : 'passed',
    error: null,
    provider: 'local',
    commit: SHA,
    image: {
      id: 'img-0123abcd',
      baseImageId: 'debian-12',
      bakeKey: 'f'.repeat(64),
      cacheHit: true,
      reusedFromRun: 'op-mfx1q2-0a1b2c3d',
      kept: true,
      promoted: true,
      expiresAt: null,
    },
    instance: { id: 'i-local-42', address: '127.0.0.1:40123' },
    stages: [
      { name: 'build', status: 'ok', startedAt: at(0), durationMs: 1200 },
      { name: 'bake', status: 'ok', startedAt: at(1200), durationMs: 5300 },
      { name: 'launch', status: 'ok', startedAt: at(6500), durationMs: 13_000 },
      { name: 'test', status: failures.length ? 'failed' : 'ok', startedAt: at(19_500), durationMs: 42_000 },
      { name: 'report', status: 'ok', startedAt: at(61_500), durationMs: 800 },
      { name: 'teardown', status: 'ok', startedAt: at(62_300), durationMs: 2100 },
    ],
    tests: {
      total: failures.length + 30,
      passed: 30,
      failed: failures.length,
      skipped: 0,
      failures,
    },
    annotations: 0,
    resources: [],
    ...overrides,
  };
}

export function manyFailures(n: number): TestFailure[] {
  return Array.from({ length: n }, (_, i) => failure(i));
}

/** A Logger that records what it was told, to check messages appear once and secrets never. */
export function recordingLogger(): Logger & { lines: string[]; masked: string[] } {
  const lines: string[] = [];
  const masked: string[] = [];
  return {
    ...silentLogger,
    lines,
    masked,
    info: (m) => lines.push(`info: ${m}`),
    warn: (m) => lines.push(`warn: ${m}`),
    mask: (s) => masked.push(s),
  };
}
