import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeGitHub, type FakeGitHub } from '../support/github-api.js';
import { SHA } from './fixtures.js';

let gh: FakeGitHub;
beforeEach(async () => {
  gh = await startFakeGitHub();
});
afterEach(async () => {
  await gh.close({ allowInvalid: true });
});

async function call(method: string, path: string, body?: unknown, auth = 'token x') {
  const response = await fetch(`${gh.url}${path}`, {
    method,
    headers: { authorization: auth, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('fake GitHub API validation against @octokit/openapi', () => {
  it('accepts a valid create and answers with a check run', async () => {
    const res = await call('POST', '/repos/o/r/check-runs', {
      name: 'ovenproof',
      head_sha: SHA,
      status: 'in_progress',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ id: 1, head_sha: SHA, status: 'in_progress' });
    expect(gh.invalid).toEqual([]);
  });

  it.each([
    [
      'a wrong enum value',
      { name: 'n', head_sha: SHA, status: 'running' },
      /body\/status must be equal to one of the allowed values/,
    ],
    ['a missing required field', { name: 'n' }, /body must have required property 'head_sha'/],
    [
      '51 annotations in one request',
      {
        name: 'n',
        head_sha: SHA,
        output: {
          title: 't',
          summary: 's',
          annotations: Array.from({ length: 51 }, () => ({
            path: 'a',
            start_line: 1,
            end_line: 1,
            annotation_level: 'failure',
            message: 'm',
          })),
        },
      },
      /must NOT have more than 50 items/,
    ],
    [
      'a summary over 65,535 bytes',
      { name: 'n', head_sha: SHA, output: { title: 't', summary: 'é'.repeat(40_000) } },
      /80000 bytes/,
    ],
    [
      'an annotation level GitHub does not know',
      {
        name: 'n',
        head_sha: SHA,
        output: {
          title: 't',
          summary: 's',
          annotations: [{ path: 'a', start_line: 1, end_line: 1, annotation_level: 'error', message: 'm' }],
        },
      },
      /annotation_level must be equal to one of/,
    ],
    ['a short SHA', { name: 'n', head_sha: 'ec26c3e' }, /No commit found for SHA/],
  ])('rejects %s with 422 and fails close()', async (_what, body, error) => {
    const res = await call('POST', '/repos/o/r/check-runs', body);
    expect(res.status).toBe(422);
    expect(gh.invalid).toHaveLength(1);
    expect(gh.invalid[0]!.errors.join('\n')).toMatch(error);
    await expect(gh.close()).rejects.toThrow(/invalid request/);
  });

  it('checks the completed-needs-conclusion rule of the update operation', async () => {
    await call('POST', '/repos/o/r/check-runs', { name: 'n', head_sha: SHA });
    const res = await call('PATCH', '/repos/o/r/check-runs/1', { status: 'completed' });
    expect(res.status).toBe(422);
    expect(gh.invalid[0]!.errors.join()).toMatch(/required property 'conclusion'/);
  });

  it('rejects paths and methods that are not operations of the API, and bad path parameters', async () => {
    expect((await call('POST', '/repos/o/r/check-run', { name: 'n' })).status).toBe(404);
    expect((await call('DELETE', '/repos/o/r/check-runs/1')).status).toBe(405);
    expect((await call('GET', '/repos/o/r/check-runs/abc')).status).toBe(422);
    expect(gh.invalid.map((r) => r.status)).toEqual([404, 405, 422]);
  });

  it('requires authentication', async () => {
    expect((await call('POST', '/repos/o/r/check-runs', { name: 'n', head_sha: SHA }, '')).status).toBe(401);
  });

  it('serves annotations by page and injects failures after validation', async () => {
    const annotations = Array.from({ length: 3 }, (_, i) => ({
      path: 'a',
      start_line: i + 1,
      end_line: i + 1,
      annotation_level: 'failure',
      message: `m${i}`,
    }));
    await call('POST', '/repos/o/r/check-runs', {
      name: 'n',
      head_sha: SHA,
      output: { title: 't', summary: 's', annotations },
    });
    const page = await fetch(`${gh.url}/repos/o/r/check-runs/1/annotations?per_page=2&page=2`, {
      headers: { authorization: 'token x' },
    });
    expect(await page.json()).toEqual([annotations[2]]);
    gh.failWith(403, { method: 'PATCH', times: 1 });
    const denied = await call('PATCH', '/repos/o/r/check-runs/1', { status: 'in_progress' });
    expect(denied).toMatchObject({
      status: 403,
      body: { message: 'Resource not accessible by integration' },
    });
    expect((await call('PATCH', '/repos/o/r/check-runs/1', { status: 'in_progress' })).status).toBe(200);
    expect(gh.invalid).toEqual([]);
  });
});
