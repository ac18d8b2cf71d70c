import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { headShaFor, headShaFromEnv, workflowFileFromEnv } from '../../src/report/index.js';

interface Definition {
  name: string;
  examples: Array<Record<string, unknown>>;
}
const require = createRequire(import.meta.url);
const definitions = require('@octokit/webhooks-examples') as Definition[];
function example(name: string, pick: (payload: Record<string, unknown>) => boolean = () => true) {
  const found = definitions.find((d) => d.name === name)?.examples.find(pick);
  if (!found) throw new Error(`no ${name} example in @octokit/webhooks-examples`);
  return structuredClone(found) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const GITHUB_SHA = '0123456789abcdef0123456789abcdef01234567';

describe('headShaFor with real webhook payloads', () => {
  it('push → GITHUB_SHA (the pushed commit)', () => {
    const push = example('push', (p) => (p.ref as string).startsWith('refs/heads/'));
    expect(headShaFor('push', push, push.after)).toBe('6113728f27ae82c7b1a177c8d03f9e96e0adf246');
  });

  it('pull_request from the same repository → pull_request.head.sha, not the merge commit', () => {
    const pr = example('pull_request', (p) => p.action === 'synchronize');
    expect(pr.pull_request.head.repo.full_name).toBe(pr.pull_request.base.repo.full_name);
    expect(headShaFor('pull_request', pr, GITHUB_SHA)).toBe('ec26c3e57ca3a959ca5aad62de7213c562f8c821');
  });

  it('pull_request from a fork → the fork head SHA (also for pull_request_target)', () => {
    // The examples hold no fork pull request; build one from a real pull_request payload and the real
    // forked repository of the `fork` event example.
    const pr = example('pull_request', (p) => p.action === 'opened');
    const forkee = example('fork').forkee;
    expect(forkee.fork).toBe(true);
    pr.pull_request.head.repo = forkee;
    pr.pull_request.head.label = `${forkee.owner.login}:changes`;
    pr.pull_request.head.sha = 'aa11bb22cc33dd44ee55ff6677889900aabbccdd';
    expect(pr.pull_request.head.repo.full_name).not.toBe(pr.pull_request.base.repo.full_name);
    expect(headShaFor('pull_request', pr, GITHUB_SHA)).toBe('aa11bb22cc33dd44ee55ff6677889900aabbccdd');
    expect(headShaFor('pull_request_target', pr, GITHUB_SHA)).toBe(
      'aa11bb22cc33dd44ee55ff6677889900aabbccdd',
    );
  });

  it('workflow_run → workflow_run.head_sha', () => {
    const run = example('workflow_run', (p) => p.action === 'completed');
    expect(headShaFor('workflow_run', run, GITHUB_SHA)).toBe('5779607b49aab1200488439f02372c57b4f75444');
  });

  it('workflow_dispatch → GITHUB_SHA', () => {
    const dispatch = example('workflow_dispatch');
    expect(headShaFor('workflow_dispatch', dispatch, GITHUB_SHA)).toBe(GITHUB_SHA);
  });

  it('names the missing field of a malformed payload', () => {
    expect(() => headShaFor('pull_request', { pull_request: { head: {} } }, GITHUB_SHA)).toThrow(
      /pull_request event payload: pull_request\.head\.sha is missing/,
    );
    expect(() => headShaFor('workflow_run', { workflow_run: { head_sha: 'main' } }, GITHUB_SHA)).toThrow(
      /workflow_run\.head_sha is "main", expected a commit SHA/,
    );
  });

  it('reads GITHUB_EVENT_PATH in a workflow_run workflow', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-event-'));
    const path = join(dir, 'event.json');
    await writeFile(path, JSON.stringify(example('workflow_run')));
    const env = { GITHUB_EVENT_NAME: 'workflow_run', GITHUB_EVENT_PATH: path, GITHUB_SHA };
    expect(await headShaFromEnv(env)).toBe('5779607b49aab1200488439f02372c57b4f75444');
    expect(await headShaFromEnv({})).toBeNull();
  });

  it('finds the workflow file in GITHUB_WORKFLOW_REF', () => {
    expect(
      workflowFileFromEnv({ GITHUB_WORKFLOW_REF: 'octo/app/.github/workflows/ci.yml@refs/pull/7/merge' }),
    ).toBe('.github/workflows/ci.yml');
    expect(workflowFileFromEnv({})).toBeNull();
  });
});
