/**
 * Tags of a failure image, the same for both providers: which run failed, its commit, the failing tests
 * (as many names as fit one tag value) and the expiry sweep reads.
 */
import type { FailureImageRequest } from './provider.js';

export const FAILURE_OF_TAG = 'ovenproof:failure-of';
export const FAILED_TESTS_TAG = 'ovenproof:failed-tests';
/** EC2 allows 256 characters per tag value; the local store uses the same limit so both read alike. */
const TAG_VALUE_MAX = 256;

/** Joins test names with ", " up to the limit, ending with "(+N more)" when some did not fit. */
export function failingTestsTag(names: readonly string[], max = TAG_VALUE_MAX): string {
  const clean = names.map((name) => name.replace(/\s+/g, ' ').trim()).filter(Boolean);
  let text = '';
  for (let i = 0; i < clean.length; i++) {
    const candidate = (text ? `${text}, ` : '') + clean[i]!;
    const remaining = clean.length - i - 1;
    const suffix = remaining ? ` (+${remaining} more)` : '';
    if (candidate.length + suffix.length <= max) {
      text = candidate;
      continue;
    }
    // The names so far were accepted with room for this very suffix.
    if (text) return `${text} (+${clean.length - i} more)`;
    return `${candidate.slice(0, max - suffix.length - 1)}…${suffix}`;
  }
  return text;
}

export function failureImageTags(runId: string, request: FailureImageRequest): Record<string, string> {
  return {
    [FAILURE_OF_TAG]: runId,
    ...(request.commit ? { 'ovenproof:commit': request.commit } : {}),
    [FAILED_TESTS_TAG]: failingTestsTag(request.failingTests),
    'ovenproof:expires-at': request.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}
