/**
 * Real bakery processes for the bakery tests: `ovenproof bakery serve` started through the CLI entry
 * on 127.0.0.1 with a free port, a token file made with the real token code, and a local OIDC issuer
 * (discovery document + JWKS over HTTP) with its own RSA keys.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { createToken } from '../../src/bakery/auth.js';

/** JSON as the bakery answers it; the tests' assertions check its shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ApiJson = any;

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(REPO_ROOT, 'src/cli/main.ts');

export interface BakeryProcess {
  url: string;
  child: ChildProcess;
  /** Every stdout line so far (JSON log lines). */
  lines: string[];
  /** SIGTERM, then waits for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, then waits until the process is gone. */
  kill(): Promise<void>;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `ovenproof-${prefix}-`));
}

export async function tokenFile(dir: string, name = 'tests'): Promise<{ path: string; token: string }> {
  const path = join(dir, 'tokens');
  return { path, token: await createToken(path, name) };
}

export function startBakery(args: string[], env: NodeJS.ProcessEnv = {}): Promise<BakeryProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'bakery', 'serve', '--listen', '127.0.0.1:0', ...args],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (process.env.OVENPROOF_TEST_DEBUG) process.stderr.write(chunk);
  });
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return new Promise((resolveStart, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let cut: number;
      while ((cut = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 1);
        lines.push(line);
        if (process.env.OVENPROOF_TEST_DEBUG) process.stderr.write(`[bakery] ${line}\n`);
        const parsed = JSON.parse(line) as { msg?: string; url?: string };
        if (parsed.msg === 'bakery listening' && parsed.url) {
          resolveStart({
            url: parsed.url,
            child,
            lines,
            stop: () => {
              child.kill('SIGTERM');
              return exited;
            },
            kill: async () => {
              child.kill('SIGKILL');
              await exited;
            },
          });
        }
      }
    });
    void exited.then((code) => reject(new Error(`bakery exited (${code}) before listening: ${stderr}`)));
  });
}

export async function api(
  url: string,
  token: string | null,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: ApiJson }> {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  if (init.body && typeof init.body === 'string') headers.set('content-type', 'application/json');
  const response = await fetch(`${url}${path}`, { ...init, headers });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

export interface SseEvent {
  id: number;
  type: string;
  data: ApiJson;
}

/** Reads a bake's event stream until `done` (or until `until` returns true), returning the events. */
export async function readEvents(
  url: string,
  token: string,
  bakeId: string,
  until: (event: SseEvent) => boolean = () => false,
): Promise<SseEvent[]> {
  const controller = new AbortController();
  const response = await fetch(`${url}/v1/bakes/${bakeId}/events`, {
    headers: { authorization: `Bearer ${token}` },
    signal: controller.signal,
  });
  if (response.status !== 200) throw new Error(`events: HTTP ${response.status}`);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const fields = Object.fromEntries(
          frame
            .split('\n')
            .filter((l) => !l.startsWith(':') && l.includes(': '))
            .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
        );
        if (!fields.data) continue;
        const event = {
          id: Number(fields.id),
          type: fields.event ?? 'message',
          data: JSON.parse(fields.data),
        };
        events.push(event);
        if (event.type === 'done' || until(event)) {
          controller.abort();
          return events;
        }
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  }
  return events;
}

export interface LocalIssuer {
  issuer: string;
  /**
   * The Actions runtime's ID-token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL, already carrying a query
   * as the runner's does): answers `{value: JWT}` for `&audience=…` with these claims.
   */
  tokenRequestUrl: string;
  tokenRequestBearer: string;
  actionsClaims: JWTPayload;
  sign(
    claims: JWTPayload,
    options?: { expiresIn?: string | number; issuedAt?: number; kid?: string },
  ): Promise<string>;
  /**
   * Rotates the signing key as an issuer does: a new key with a new `kid` is published in the JWKS next
   * to the old one and signs every token from now on.
   */
  rotateKey(kid: string): Promise<void>;
  /** When the JWKS was last served (ms since the epoch; 0 = never), and how many times. */
  jwksFetches: { count: number; lastAt: number };
  close(): Promise<void>;
}

/** An OIDC issuer on 127.0.0.1 shaped like GitHub Actions': discovery document, JWKS, RS256 keys. */
export async function startIssuer(): Promise<LocalIssuer> {
  let { privateKey, publicKey } = await generateKeyPair('RS256');
  let signingKid = 'test-key-1';
  const published: JWK[] = [{ ...(await exportJWK(publicKey)), kid: signingKid, alg: 'RS256', use: 'sig' }];
  const jwksFetches = { count: 0, lastAt: 0 };
  let issuer = '';
  const bearer = `runtime-${Math.random().toString(36).slice(2)}`;
  const actionsClaims: JWTPayload = {};
  const sign = async (
    claims: JWTPayload,
    options: { expiresIn?: string | number; issuedAt?: number; kid?: string } = {},
  ) =>
    new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? signingKid, typ: 'JWT' })
      .setIssuer(String(claims.iss ?? issuer))
      .setIssuedAt(options.issuedAt ?? Math.floor(Date.now() / 1000))
      .setExpirationTime(options.expiresIn ?? '5m')
      .sign(privateKey);
  const server: Server = createServer((request, response) => {
    response.setHeader('content-type', 'application/json');
    const url = new URL(request.url ?? '/', issuer);
    if (url.pathname === '/id-token') {
      const audience = url.searchParams.get('audience');
      if (request.headers.authorization !== `Bearer ${bearer}` || !audience) {
        response.statusCode = 401;
        response.end('{"message":"bad runtime token or no audience"}');
        return;
      }
      void sign({ ...actionsClaims, aud: audience }).then((value) => response.end(JSON.stringify({ value })));
    } else if (request.url === '/.well-known/openid-configuration') {
      response.end(
        JSON.stringify({
          issuer,
          jwks_uri: `${issuer}/.well-known/jwks`,
          id_token_signing_alg_values_supported: ['RS256'],
        }),
      );
    } else if (request.url === '/.well-known/jwks') {
      jwksFetches.count += 1;
      jwksFetches.lastAt = Date.now();
      response.end(JSON.stringify({ keys: published }));
    } else {
      response.statusCode = 404;
      response.end('{}');
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  issuer = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    issuer,
    tokenRequestUrl: `${issuer}/id-token?api-version=2.0`,
    tokenRequestBearer: bearer,
    actionsClaims,
    sign,
    rotateKey: async (kid) => {
      ({ privateKey, publicKey } = await generateKeyPair('RS256'));
      signingKid = kid;
      published.push({ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' });
    },
    jwksFetches,
    close: () => new Promise((done) => server.close(() => done())),
  };
}
