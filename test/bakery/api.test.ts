/**
 * A real bakery process over HTTP, without bakes: authentication (static tokens and OIDC tokens from a
 * local issuer), request validation, content-addressed uploads and the upload size limit.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  REPO_ROOT,
  startBakery,
  startIssuer,
  tempDir,
  tokenFile,
  type BakeryProcess,
  type LocalIssuer,
} from './helpers.js';

const AUDIENCE = 'ovenproof-bakery-test';
const MAX_FILE = 16 * 1024 * 1024;
let dir: string;
let token: string;
let issuer: LocalIssuer;
let bakery: BakeryProcess;

function claims(repository: string, extra: Record<string, unknown> = {}) {
  return {
    aud: AUDIENCE,
    repository,
    repository_owner: repository.split('/')[0],
    sha: 'abc123',
    ref: 'refs/heads/main',
    ...extra,
  };
}

/**
 * Streams `total` bytes of zeros to POST /v1/files. Resolves with the status when the response
 * arrives, or with status 0 when the bakery closed the connection while the client was still sending
 * (the refusal is then read from the bakery's request log). `sent` is how much left this side.
 */
function upload(
  url: string,
  total: number,
  declareLength: boolean,
): Promise<{ status: number; sent: number }> {
  return new Promise((resolve, reject) => {
    const target = new URL('/v1/files', url);
    const req = request({
      host: target.hostname,
      port: target.port,
      path: target.pathname,
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/octet-stream',
        ...(declareLength ? { 'content-length': String(total) } : {}),
      },
    });
    const chunk = Buffer.alloc(1024 * 1024);
    let sent = 0;
    let finished = false;
    const pump = () => {
      while (!finished && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!finished) req.end();
    };
    req.on('response', (response) => {
      finished = true;
      response.resume();
      response.on('end', () => {
        req.destroy();
        resolve({ status: response.statusCode ?? 0, sent });
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (finished) return;
      finished = true;
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') resolve({ status: 0, sent });
      else reject(error);
    });
    req.flushHeaders();
    // Give a bakery that refuses on the declared length alone the moment to answer before any body.
    setTimeout(pump, declareLength ? 500 : 0);
  });
}

/** Status codes the bakery logged for POST /v1/files (one JSON object per line on its stdout). */
function loggedUploadStatuses(): number[] {
  return bakery.lines
    .map((line) => JSON.parse(line) as { msg?: string; method?: string; url?: string; statusCode?: number })
    .filter((entry) => entry.msg === 'request' && entry.method === 'POST' && entry.url === '/v1/files')
    .map((entry) => entry.statusCode!);
}

function bytesUnder(path: string): number {
  return readdirSync(path).reduce((sum, name) => sum + statSync(join(path, name)).size, 0);
}

beforeAll(async () => {
  dir = tempDir('bakery-api');
  ({ token } = await tokenFile(dir));
  issuer = await startIssuer();
  bakery = await startBakery(
    [
      '--data-dir',
      join(dir, 'data'),
      '--token-file',
      join(dir, 'tokens'),
      '--oidc-issuer',
      issuer.issuer,
      '--oidc-audience',
      AUDIENCE,
      '--allow-repo',
      'allowed-org/*',
      '--allow-repo',
      'someone/exact-repo',
      '--max-file-size',
      '16m',
    ],
    { OVENPROOF_HOME: join(dir, 'home') },
  );
}, 120_000);

afterAll(async () => {
  expect(await bakery?.stop()).toBe(0);
  await issuer?.close();
});

describe('bakery authentication', () => {
  it('serves /healthz without a token and refuses everything else without one (401)', async () => {
    expect((await api(bakery.url, null, '/healthz')).status).toBe(200);
    const missing = await api(bakery.url, null, '/v1/stats');
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe('unauthorized');
    expect((await api(bakery.url, 'not-a-token', '/v1/bakes')).status).toBe(401);
    expect((await api(bakery.url, token, '/v1/stats')).status).toBe(200);
  });

  it('keeps only token hashes in the token file, and picks up a token created while it runs', async () => {
    const text = readFileSync(join(dir, 'tokens'), 'utf8');
    expect(text).not.toContain(token);
    expect(text).toMatch(/^sha256:[0-9a-f]{64} tests$/m);
    const printed = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'bakery',
        'token',
        'create',
        'second',
        '--token-file',
        join(dir, 'tokens'),
      ],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    ).trim();
    expect(printed).toMatch(/^opbk_/);
    expect(readFileSync(join(dir, 'tokens'), 'utf8')).not.toContain(printed);
    expect((await api(bakery.url, printed, '/v1/stats')).status).toBe(200);
  });

  it('accepts an OIDC token of an allowed repository and records who asked', async () => {
    const jwt = await issuer.sign(claims('allowed-org/service'));
    expect((await api(bakery.url, jwt, '/v1/stats')).status).toBe(200);
    const exact = await issuer.sign(claims('someone/exact-repo'));
    expect((await api(bakery.url, exact, '/v1/bakes')).status).toBe(200);
  });

  it('answers 403 for a repository outside --allow-repo', async () => {
    for (const repo of ['other-org/service', 'someone/other-repo', 'allowed-org-evil/x']) {
      const response = await api(bakery.url, await issuer.sign(claims(repo)), '/v1/stats');
      expect(response.status, repo).toBe(403);
      expect(response.body.error.message).toContain(repo);
    }
  });

  it('answers 401 for a wrong audience, an expired token, a foreign issuer or signing key', async () => {
    const wrongAudience = await api(
      bakery.url,
      await issuer.sign(claims('allowed-org/a', { aud: 'someone-else' })),
      '/v1/stats',
    );
    expect(wrongAudience.status).toBe(401);
    expect(wrongAudience.body.error.message).toMatch(/aud/);
    const now = Math.floor(Date.now() / 1000);
    const expired = await api(
      bakery.url,
      await issuer.sign(claims('allowed-org/a'), { issuedAt: now - 3600, expiresIn: now - 1800 }),
      '/v1/stats',
    );
    expect(expired.status).toBe(401);
    expect(expired.body.error.message).toMatch(/expired/);
    const foreignIssuer = await api(
      bakery.url,
      await issuer.sign(claims('allowed-org/a', { iss: 'https://token.actions.githubusercontent.com' })),
      '/v1/stats',
    );
    expect(foreignIssuer.status).toBe(401);
    const other = await startIssuer();
    try {
      expect((await api(bakery.url, await other.sign(claims('allowed-org/a')), '/v1/stats')).status).toBe(
        401,
      );
    } finally {
      await other.close();
    }
  });
});

describe('bakery OIDC key rotation', () => {
  it('fetches the JWKS again when a token names a key it has not seen, and keeps it cached otherwise', async () => {
    const before = await api(bakery.url, await issuer.sign(claims('allowed-org/rotation')), '/v1/stats');
    expect(before.status).toBe(200);
    const fetchesBefore = issuer.jwksFetches.count;
    expect(fetchesBefore).toBeGreaterThan(0);
    // A known key: answered from the cache, no new fetch.
    expect(
      (await api(bakery.url, await issuer.sign(claims('allowed-org/rotation')), '/v1/stats')).status,
    ).toBe(200);
    expect(issuer.jwksFetches.count).toBe(fetchesBefore);

    await issuer.rotateKey('test-key-2');
    // The bakery refetches at most once per cooldown (10 s) so that tokens with made-up key ids cannot
    // make it hammer the issuer; wait until that much has passed since its last fetch.
    const cooldownLeft = issuer.jwksFetches.lastAt + 10_500 - Date.now();
    if (cooldownLeft > 0) await new Promise((r) => setTimeout(r, cooldownLeft));
    const rotated = await api(bakery.url, await issuer.sign(claims('allowed-org/rotation')), '/v1/stats');
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    expect(issuer.jwksFetches.count).toBe(fetchesBefore + 1);
    // A token naming the old key but signed with the new one does not verify.
    expect(
      (
        await api(
          bakery.url,
          await issuer.sign(claims('allowed-org/rotation'), { kid: 'test-key-1' }),
          '/v1/stats',
        )
      ).status,
    ).toBe(401);
  });
});

describe('bakery requests', () => {
  it('names the invalid field in a 400', async () => {
    const response = await api(bakery.url, token, '/v1/bakes', {
      method: 'POST',
      body: JSON.stringify({ baseImage: 'debian-12', packages: 'jq' }),
    });
    expect(response.status).toBe(400);
    expect(response.body.error.message).toContain('packages');
    const strategy = await api(bakery.url, token, '/v1/bakes', {
      method: 'POST',
      body: JSON.stringify({ baseImage: 'debian-12', strategy: 'fast' }),
    });
    expect(strategy.status).toBe(400);
    expect(strategy.body.error.message).toContain('strategy');
    const missing = await api(bakery.url, token, '/v1/bakes', {
      method: 'POST',
      body: JSON.stringify({ packages: [] }),
    });
    expect(missing.body.error.message).toContain('baseImage');
    const unknownFile = await api(bakery.url, token, '/v1/bakes', {
      method: 'POST',
      body: JSON.stringify({ baseImage: 'debian-12', files: ['a'.repeat(64)] }),
    });
    expect(unknownFile.status).toBe(400);
    expect(unknownFile.body.error.message).toContain('files[0]');
    expect((await api(bakery.url, token, '/v1/bakes/bk-nope')).status).toBe(404);
    expect((await api(bakery.url, token, '/v1/bakes?limit=30&state=succeeded')).body).toEqual({ bakes: [] });
    const badLimit = await api(bakery.url, token, '/v1/bakes?limit=0');
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error.message).toContain('limit');
  });

  it('stores uploads by content: same bytes, same digest; HEAD tells what it has', async () => {
    const body = Buffer.from('hello bakery\n');
    const first = await api(bakery.url, token, '/v1/files', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({
      sha256: createHash('sha256').update(body).digest('hex'),
      size: body.length,
    });
    const again = await api(bakery.url, token, '/v1/files', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(again.body.sha256).toBe(first.body.sha256);
    const head = await fetch(`${bakery.url}/v1/files/${first.body.sha256}`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(head.status).toBe(200);
    const absent = await fetch(`${bakery.url}/v1/files/${'0'.repeat(64)}`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(absent.status).toBe(404);
  });

  it('refuses a 2 GB upload with 413 without writing it to disk (declared length and chunked)', async () => {
    const twoGb = 2 * 1024 ** 3;
    const before = loggedUploadStatuses().filter((s) => s === 413).length;
    const declared = await upload(bakery.url, twoGb, true);
    expect(declared.status).toBe(413);
    expect(declared.sent).toBeLessThan(twoGb / 4);
    const chunked = await upload(bakery.url, twoGb, false);
    expect([0, 413]).toContain(chunked.status);
    expect(chunked.sent).toBeLessThan(twoGb / 4);
    await new Promise((done) => setTimeout(done, 1000));
    expect(loggedUploadStatuses().filter((s) => s === 413).length - before).toBe(2);
    // Nothing above the limit was kept: the files folder holds only the small uploads.
    expect(bytesUnder(join(dir, 'data', 'files'))).toBeLessThan(MAX_FILE);
  }, 300_000);
});
