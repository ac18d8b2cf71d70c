/**
 * Failing tests → check-run annotations: one per failure that has a repository file, level `failure`,
 * title = test name, message = failure message, raw_details = stack/details, all cut to GitHub's limits.
 * Failures without a file are not annotated: the summaries list them.
 */
import type { RunResult } from '../common/run-result.js';
import type { TestFailure } from '../results/model.js';
import { LIMITS, truncateBytes, truncateChars } from './text.js';

export interface CheckAnnotation {
  path: string;
  start_line: number;
  end_line: number;
  annotation_level: 'notice' | 'warning' | 'failure';
  message: string;
  title?: string;
  raw_details?: string;
}

export interface AnnotationExtras {
  /** Last lines of the build log, annotated when the build stage failed. */
  buildLogTail?: string;
  /** Repository file that carries annotations with no file of their own (the workflow file). */
  fallbackPath?: string;
}

const CUT_NOTE = '\n… (cut to fit GitHub’s 64 KB annotation limit)';

export function failureTitle(failure: TestFailure): string {
  const name =
    failure.suite && !failure.name.startsWith(failure.suite)
      ? `${failure.suite} › ${failure.name}`
      : failure.name;
  return truncateChars(name || '(unnamed test)', LIMITS.titleChars);
}

/** Failures that can be placed on a repository file, in result order. */
export function locatedFailures(result: RunResult): TestFailure[] {
  return result.tests.failures.filter((failure) => failure.file !== null && failure.file !== '');
}

export function buildFailed(result: RunResult): boolean {
  return (
    result.error?.stage === 'build' || result.stages.some((s) => s.name === 'build' && s.status === 'failed')
  );
}

export function buildAnnotations(result: RunResult, extras: AnnotationExtras = {}): CheckAnnotation[] {
  const annotations: CheckAnnotation[] = [];
  if (buildFailed(result)) {
    const message = [result.error?.message ?? 'The build command failed.', extras.buildLogTail ?? '']
      .filter(Boolean)
      .join('\n\n');
    annotations.push({
      path: extras.fallbackPath ?? DEFAULT_FALLBACK_PATH,
      start_line: 1,
      end_line: 1,
      annotation_level: 'failure',
      title: 'Build failed',
      message: truncateBytes(message, LIMITS.annotationBytes, CUT_NOTE),
      ...(extras.buildLogTail
        ? { raw_details: truncateBytes(extras.buildLogTail, LIMITS.annotationBytes, CUT_NOTE) }
        : {}),
    });
  }
  for (const failure of locatedFailures(result)) {
    const line = failure.line !== null && failure.line > 0 ? failure.line : 1;
    const annotation: CheckAnnotation = {
      path: failure.file!.replace(/^\.?\/+/, ''),
      start_line: line,
      end_line: line,
      annotation_level: 'failure',
      title: failureTitle(failure),
      message: truncateBytes(failure.message || 'Test failed', LIMITS.annotationBytes, CUT_NOTE),
    };
    if (failure.details)
      annotation.raw_details = truncateBytes(failure.details, LIMITS.annotationBytes, CUT_NOTE);
    annotations.push(annotation);
  }
  return annotations;
}

/** Used when GITHUB_WORKFLOW_REF is unknown (outside Actions): the config file a user would look at. */
export const DEFAULT_FALLBACK_PATH = 'ovenproof.yml';

/** Splits into requests of at most `size` annotations (GitHub rejects a 51st with 422). */
export function batches<T>(items: readonly T[], size: number = LIMITS.annotationsPerRequest): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
