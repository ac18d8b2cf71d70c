/**
 * Reads a result JSON (SPEC §2.3) written by another job, possibly from a fork: its content is untrusted,
 * so every field is checked and a bad file is a ConfigError naming the field.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError } from '../common/errors.js';
import type { RunResult } from '../common/run-result.js';

const stageName = z.enum(['build', 'bake', 'launch', 'test', 'report', 'teardown']);
const count = z.number().int().nonnegative();
const resourceKinds = [
  'instance',
  'volume',
  'attachment',
  'mount',
  'snapshot',
  'image',
  'key',
  'security-group',
  'file',
  'process',
] as const satisfies readonly RunResult['resources'][number]['kind'][];

const runResultSchema = z.object({
  status: z.enum(['passed', 'failed', 'error']),
  error: z.object({ stage: z.string(), message: z.string() }).nullable(),
  provider: z.enum(['local', 'ec2']),
  commit: z.string().nullable(),
  image: z
    .object({
      id: z.string(),
      baseImageId: z.string(),
      bakeKey: z.string(),
      cacheHit: z.boolean(),
      kept: z.boolean(),
    })
    .nullable(),
  instance: z.object({ id: z.string(), address: z.string() }).nullable(),
  stages: z.array(
    z.object({
      name: stageName,
      status: z.enum(['ok', 'failed', 'skipped']),
      startedAt: z.string(),
      durationMs: z.number().nonnegative(),
    }),
  ),
  tests: z.object({
    total: count,
    passed: count,
    failed: count,
    skipped: count,
    failures: z.array(
      z.object({
        name: z.string(),
        suite: z.string(),
        file: z.string().nullable(),
        line: z.number().int().positive().nullable(),
        message: z.string(),
        details: z.string(),
      }),
    ),
  }),
  annotations: count,
  resources: z.array(
    z.object({
      kind: z.enum(resourceKinds),
      id: z.string(),
      createdAt: z.string(),
      deletedAt: z.string().nullable(),
      kept: z.boolean(),
    }),
  ),
});

/** Validates parsed JSON as a RunResult; `source` names the file in errors. */
export function parseRunResult(data: unknown, source: string): RunResult {
  const parsed = runResultSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.length ? issue.path.join('.') : '(top level)'}: ${issue.message}`);
    throw new ConfigError(`${source} is not an ovenproof result JSON: ${problems.join('; ')}`);
  }
  const result: RunResult = parsed.data;
  return result;
}

export async function readRunResult(path: string): Promise<RunResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(`result JSON ${path}: cannot read it (${code ?? String(error)})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`result JSON ${path}: not valid JSON (${(error as Error).message})`);
  }
  return parseRunResult(data, path);
}
