/**
 * Reads a result JSON written by another job, possibly from a fork: its content is untrusted,
 * so every field is checked and a bad file is a ConfigError naming the field.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError } from '../common/errors.js';
import {
  PROVIDER_NAME_PATTERN,
  RESOURCE_KINDS,
  RUN_STATUSES,
  STAGES,
  STAGE_STATUSES,
  type RunResult,
} from '../common/run-result.js';

const count = z.number().int().nonnegative();
const timing = z.object({ name: z.string(), startedAt: z.string(), durationMs: z.number().nonnegative() });

const runResultSchema = z.object({
  status: z.enum(RUN_STATUSES),
  error: z.object({ stage: z.string(), message: z.string() }).nullable(),
  provider: z.string().regex(PROVIDER_NAME_PATTERN),
  commit: z.string().nullable(),
  image: z
    .object({
      id: z.string(),
      baseImageId: z.string(),
      bakeKey: z.string(),
      cacheHit: z.boolean(),
      // Absent in result files written before the bake cache was split from promotion.
      reusedFromRun: z.string().nullable().default(null),
      kept: z.boolean(),
      promoted: z.boolean().default(false),
      expiresAt: z.string().nullable().default(null),
      copies: z.array(z.object({ region: z.string(), id: z.string() })).optional(),
      bakedBy: z.string().nullable().optional(),
    })
    .nullable(),
  instance: z
    .object({
      id: z.string(),
      address: z.string(),
      boot: z.enum(['cold', 'restored']).optional(),
      debugSsh: z
        .object({
          user: z.string(),
          host: z.string(),
          port: z.number().int().positive(),
          privateKeyFile: z.string(),
          knownHostsFile: z.string(),
        })
        .optional(),
    })
    .nullable(),
  failureImage: z.object({ id: z.string(), expiresAt: z.string() }).nullable().optional(),
  cost: z
    .object({
      instanceSeconds: z.record(z.string(), z.number().nonnegative()),
      storageGbHours: z.number().nonnegative(),
      estimatedUsd: z.number().nonnegative().nullable(),
      priceSource: z.string(),
    })
    .optional(),
  stages: z.array(
    z.object({
      name: z.enum(STAGES),
      status: z.enum(STAGE_STATUSES),
      startedAt: z.string(),
      durationMs: z.number().nonnegative(),
      steps: z.array(timing).optional(),
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
      kind: z.enum(RESOURCE_KINDS),
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
