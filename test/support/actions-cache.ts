/**
 * A local stand-in for the GitHub Actions cache service as @actions/cache (v2 protocol) talks to it:
 * the Twirp JSON endpoints CreateCacheEntry, FinalizeCacheEntryUpload and GetCacheEntryDownloadURL at
 * ACTIONS_RESULTS_URL, handing out signed URLs of Azurite, Microsoft's real Blob storage emulator,
 * which the toolkit's Azure SDK uploads to and downloads from. Everything listens on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BlobSASPermissions,
  BlobServiceClient,
  SASProtocol,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';

const require = createRequire(import.meta.url);
const SERVICE = 'github.actions.results.api.v1.CacheService';
// Azurite's well-known development account (published in its documentation).
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const CONTAINER = 'actions-cache';

export interface CacheEntry {
  id: number;
  key: string;
  version: string;
  blob: string;
  finalized: boolean;
  sizeBytes: number;
  createdAt: number;
}

export interface CacheCall {
  method: string;
  key: string;
  ok: boolean;
}

export interface CacheStandIn {
  /** Environment for a process using @actions/cache against this stand-in. */
  env: Record<string, string>;
  entries(): CacheEntry[];
  calls: CacheCall[];
  /** The stored archive of an entry (a zstd or gzip tar, as the toolkit wrote it). */
  download(key: string): Promise<Buffer>;
  close(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function startAzurite(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      require.resolve('azurite/dist/src/blob/main.js'),
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      '--location',
      dir,
      '--silent',
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--loose',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`azurite did not start: ${output}`)), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`azurite exited with ${code}: ${output}`));
    });
    const poll = setInterval(() => {
      if (/successfully listens/.test(output)) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve();
      }
    }, 100);
  });
  return { child, url: `http://127.0.0.1:${port}/${ACCOUNT}` };
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function startCacheStandIn(): Promise<CacheStandIn> {
  const dir = mkdtempSync(join(tmpdir(), 'ovenproof-azurite-'));
  const azurite = await startAzurite(dir);
  const credential = new StorageSharedKeyCredential(ACCOUNT, ACCOUNT_KEY);
  const blobService = new BlobServiceClient(azurite.url, credential);
  await blobService.getContainerClient(CONTAINER).create();

  const token = `ghs_cache_${randomBytes(8).toString('hex')}`;
  const entries: CacheEntry[] = [];
  const calls: CacheCall[] = [];
  let nextId = 1;

  const signedUrl = (blob: string, permissions: string) => {
    const sas = generateBlobSASQueryParameters(
      {
        containerName: CONTAINER,
        blobName: blob,
        permissions: BlobSASPermissions.parse(permissions),
        expiresOn: new Date(Date.now() + 3_600_000),
        protocol: SASProtocol.HttpsAndHttp,
      },
      credential,
    ).toString();
    return `${azurite.url}/${CONTAINER}/${encodeURIComponent(blob)}?${sas}`;
  };

  const handlers: Record<string, (body: Record<string, unknown>) => [number, unknown]> = {
    CreateCacheEntry(body) {
      const key = String(body.key ?? '');
      const version = String(body.version ?? '');
      if (!key || !version) return [400, { code: 'invalid_argument', msg: 'key and version are required' }];
      if (entries.some((e) => e.key === key && e.version === version && e.finalized)) {
        return [
          409,
          { code: 'already_exists', msg: 'cache entry with the same key and version already exists' },
        ];
      }
      const entry: CacheEntry = {
        id: nextId++,
        key,
        version,
        blob: `${randomBytes(8).toString('hex')}.tar`,
        finalized: false,
        sizeBytes: 0,
        createdAt: Date.now(),
      };
      entries.push(entry);
      return [200, { ok: true, signed_upload_url: signedUrl(entry.blob, 'cw') }];
    },
    FinalizeCacheEntryUpload(body) {
      const entry = entries.find((e) => e.key === body.key && e.version === body.version && !e.finalized);
      if (!entry) return [404, { code: 'not_found', msg: 'no upload in progress for this key' }];
      entry.finalized = true;
      entry.sizeBytes = Number(body.size_bytes ?? 0);
      return [200, { ok: true, entry_id: String(entry.id) }];
    },
    GetCacheEntryDownloadURL(body) {
      const version = String(body.version ?? '');
      const usable = entries
        .filter((e) => e.finalized && e.version === version)
        .sort((a, b) => b.createdAt - a.createdAt);
      const restoreKeys = Array.isArray(body.restore_keys) ? body.restore_keys.map(String) : [];
      const match =
        usable.find((e) => e.key === body.key) ??
        restoreKeys.map((prefix) => usable.find((e) => e.key.startsWith(prefix))).find(Boolean);
      if (!match) return [200, { ok: false }];
      return [200, { ok: true, signed_download_url: signedUrl(match.blob, 'r'), matched_key: match.key }];
    },
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const prefix = `/twirp/${SERVICE}/`;
      const method = req.url?.startsWith(prefix) ? req.url.slice(prefix.length) : '';
      const handler = handlers[method];
      if (req.method !== 'POST' || !handler)
        return reply(res, 404, { code: 'bad_route', msg: `no route ${req.url}` });
      if (req.headers.authorization !== `Bearer ${token}`) {
        return reply(res, 401, { code: 'unauthenticated', msg: 'missing or wrong runtime token' });
      }
      const body = await readJson(req);
      const [status, answer] = handler(body);
      calls.push({
        method,
        key: String(body.key ?? ''),
        ok: status === 200 && (answer as { ok?: boolean }).ok === true,
      });
      reply(res, status, answer);
    })().catch((error: unknown) => reply(res, 500, { code: 'internal', msg: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    env: {
      ACTIONS_CACHE_SERVICE_V2: 'true',
      ACTIONS_RESULTS_URL: `http://127.0.0.1:${port}/`,
      ACTIONS_RUNTIME_TOKEN: token,
    },
    entries: () => entries.map((e) => ({ ...e })),
    calls,
    async download(key) {
      const entry = entries.find((e) => e.key === key && e.finalized);
      if (!entry) throw new Error(`no finalized cache entry ${key}`);
      return blobService.getContainerClient(CONTAINER).getBlobClient(entry.blob).downloadToBuffer();
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      azurite.child.kill('SIGTERM');
      await new Promise<void>((resolve) => {
        if (azurite.child.exitCode !== null) return resolve();
        azurite.child.once('exit', () => resolve());
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
