/**
 * Who may talk to the bakery. Two kinds of bearer token:
 * - static tokens, of which the token file keeps only `sha256:<hex> <name>` lines (never a token);
 * - GitHub Actions OIDC JWTs, verified against the issuer's signing keys (found through its
 *   openid-configuration, cached, fetched again when a token names an unknown key), RS256 only, with
 *   issuer, audience and times checked, and the `repository` claim matched against the allowed patterns.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { appendFile, readFile, stat } from 'node:fs/promises';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';

export class AuthError extends Error {
  constructor(
    readonly status: 401 | 403,
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

export interface Principal {
  kind: 'token' | 'oidc';
  /** Recorded on every bake it asks for: `token:NAME` or `owner/repo@sha`. */
  requestedBy: string;
}

export interface OidcSettings {
  issuer: string;
  audience: string;
  /** `owner/name` or `owner/*`, matched case-insensitively. */
  allowRepos: string[];
  /** Allowed clock difference for exp/nbf/iat, in seconds. */
  clockToleranceSec?: number;
}

export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/** Parses a token file: `sha256:<hex> <name>` per line, `#` comments and blank lines ignored. */
export function parseTokenFile(text: string, path: string): Array<{ hash: Buffer; name: string }> {
  const tokens: Array<{ hash: Buffer; name: string }> = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const match = /^sha256:([0-9a-f]{64})\s+(\S+)$/.exec(line);
    if (!match) throw new Error(`${path}:${index + 1}: expected "sha256:<64 hex digits> NAME"`);
    tokens.push({ hash: Buffer.from(match[1]!, 'hex'), name: match[2]! });
  });
  return tokens;
}

/** Makes a new random token, appends its hash to the token file and returns the token (shown once). */
export async function createToken(tokenFile: string, name: string): Promise<string> {
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name))
    throw new Error(`token name "${name}": use 1-64 letters, digits, ".", "_", "@" or "-"`);
  const existing = await readFile(tokenFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  if (parseTokenFile(existing, tokenFile).some((t) => t.name === name))
    throw new Error(`${tokenFile} already has a token named "${name}"`);
  const token = `opbk_${randomBytes(32).toString('base64url')}`;
  const separator = existing && !existing.endsWith('\n') ? '\n' : '';
  await appendFile(tokenFile, `${separator}sha256:${sha256Hex(token)} ${name}\n`, { mode: 0o600 });
  return token;
}

export function repoAllowed(repository: string, patterns: readonly string[]): boolean {
  const repo = repository.toLowerCase();
  return patterns.some((raw) => {
    const pattern = raw.toLowerCase();
    if (pattern.endsWith('/*'))
      return repo.startsWith(pattern.slice(0, -1)) && !repo.slice(pattern.length - 1).includes('/');
    return repo === pattern;
  });
}

export class Authenticator {
  private tokens: Array<{ hash: Buffer; name: string }> = [];
  private tokenFileMtime = -1;
  private jwks: ReturnType<typeof createRemoteJWKSet> | null = null;

  constructor(
    private readonly tokenFile: string | null,
    private readonly oidc: OidcSettings | null,
  ) {}

  /** Reads the token file now, so that a broken one stops the bakery at start. */
  async init(): Promise<void> {
    await this.reloadTokens();
  }

  private async reloadTokens(): Promise<void> {
    if (!this.tokenFile) return;
    const info = await stat(this.tokenFile).catch(() => null);
    const mtime = info?.mtimeMs ?? 0;
    if (mtime === this.tokenFileMtime) return;
    // `bakery token create` appends while the bakery runs: a changed file is read again.
    this.tokens = info ? parseTokenFile(await readFile(this.tokenFile, 'utf8'), this.tokenFile) : [];
    this.tokenFileMtime = mtime;
  }

  async authenticate(header: string | undefined): Promise<Principal> {
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new AuthError(401, 'missing bearer token (Authorization: Bearer TOKEN)');
    const token = match[1]!;
    if (this.oidc && token.split('.').length === 3) return this.verifyOidc(token, this.oidc);
    await this.reloadTokens();
    const digest = createHash('sha256').update(token).digest();
    const found = this.tokens.find((t) => timingSafeEqual(t.hash, digest));
    if (!found) throw new AuthError(401, 'invalid token');
    return { kind: 'token', requestedBy: `token:${found.name}` };
  }

  private async keySet(oidc: OidcSettings): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (this.jwks) return this.jwks;
    const url = `${oidc.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let config: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      config = (await response.json()) as typeof config;
    } catch (error) {
      throw new Error(`OIDC discovery at ${url} failed: ${(error as Error).message}`, { cause: error });
    }
    if (typeof config.jwks_uri !== 'string') throw new Error(`OIDC discovery at ${url}: no jwks_uri`);
    // The key set caches the keys and fetches them again when a token names a key it does not know.
    this.jwks = createRemoteJWKSet(new URL(config.jwks_uri), {
      cooldownDuration: 10_000,
      cacheMaxAge: 600_000,
    });
    return this.jwks;
  }

  private async verifyOidc(token: string, oidc: OidcSettings): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await this.keySet(oidc), {
        issuer: oidc.issuer,
        audience: oidc.audience,
        algorithms: ['RS256'],
        clockTolerance: oidc.clockToleranceSec ?? 60,
        requiredClaims: ['exp', 'iat', 'repository'],
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new AuthError(401, 'OIDC token expired');
      if (error instanceof joseErrors.JWTClaimValidationFailed)
        throw new AuthError(
          401,
          `OIDC token rejected: claim "${error.claim}" ${error.reason === 'check_failed' ? 'does not match' : error.reason}`,
        );
      if (error instanceof joseErrors.JOSEError)
        throw new AuthError(401, `OIDC token rejected: ${error.message}`);
      throw error;
    }
    const repository = String(payload.repository);
    if (!repoAllowed(repository, oidc.allowRepos))
      throw new AuthError(403, `repository ${repository} is not allowed to use this bakery (--allow-repo)`);
    const sha = typeof payload.sha === 'string' ? payload.sha : 'unknown';
    return { kind: 'oidc', requestedBy: `${repository}@${sha}` };
  }
}
