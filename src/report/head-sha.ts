/**
 * The commit a check run belongs to. GITHUB_SHA is wrong for pull requests (it is the merge commit) and
 * for workflow_run (it is the default branch): a check run on it would never show on the pull request.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../common/errors.js';

function field(payload: unknown, path: string[]): unknown {
  let value: unknown = payload;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function requireSha(eventName: string, payload: unknown, path: string[]): string {
  const value = field(payload, path);
  if (typeof value !== 'string' || !/^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(value)) {
    throw new ConfigError(
      `${eventName} event payload: ${path.join('.')} is ${JSON.stringify(value) ?? 'missing'}, expected a commit SHA`,
    );
  }
  return value.toLowerCase();
}

/**
 * push → `sha`; pull_request / pull_request_target → `pull_request.head.sha`;
 * workflow_run → `workflow_run.head_sha`; workflow_dispatch and any other event → `sha`.
 */
export function headShaFor(eventName: string, payload: unknown, fallbackSha: string): string {
  switch (eventName) {
    case 'pull_request':
    case 'pull_request_target':
    case 'pull_request_review':
    case 'pull_request_review_comment':
      return requireSha(eventName, payload, ['pull_request', 'head', 'sha']);
    case 'workflow_run':
      return requireSha(eventName, payload, ['workflow_run', 'head_sha']);
    default:
      return fallbackSha;
  }
}

/**
 * The head SHA for the running workflow, from GITHUB_EVENT_NAME, the payload at GITHUB_EVENT_PATH and
 * GITHUB_SHA; null outside GitHub Actions.
 */
export async function headShaFromEnv(env: NodeJS.ProcessEnv): Promise<string | null> {
  const eventName = env.GITHUB_EVENT_NAME;
  const fallback = env.GITHUB_SHA ?? '';
  if (!eventName) return fallback || null;
  let payload: unknown = {};
  if (env.GITHUB_EVENT_PATH) {
    try {
      payload = JSON.parse(await readFile(env.GITHUB_EVENT_PATH, 'utf8'));
    } catch (error) {
      throw new ConfigError(
        `GITHUB_EVENT_PATH ${env.GITHUB_EVENT_PATH}: cannot read the event payload (${error})`,
      );
    }
  }
  return headShaFor(eventName, payload, fallback) || null;
}

/** `.github/workflows/ci.yml` from GITHUB_WORKFLOW_REF (`owner/repo/.github/workflows/ci.yml@refs/heads/main`). */
export function workflowFileFromEnv(env: NodeJS.ProcessEnv): string | null {
  const ref = env.GITHUB_WORKFLOW_REF;
  if (!ref) return null;
  const match = /^[^/]+\/[^/]+\/(.+?)@/.exec(ref);
  return match ? match[1]! : null;
}
