/**
 * Starts a bakery: job store, file store, authenticator, job runner and HTTP server, with one data
 * dir that only this process uses (a pid file guards it), and a graceful stop.
 */
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { ConfigError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { Authenticator, type OidcSettings } from './auth.js';
import type { BakeExecutor } from './executor.js';
import { FileStore } from './files.js';
import { createServer } from './server.js';
import { Bakery } from './service.js';
import { DynamoJobStore, type DynamoStoreLocation } from './dynamodb-store.js';
import { SqliteJobStore } from './sqlite-store.js';
import type { JobStore } from './store.js';
import { isProcessAlive } from '../common/host/process.js';

/** The SQLite file in the data dir (one bakery), or a DynamoDB table shared by a fleet. */
export type StoreSetting = { kind: 'sqlite' } | { kind: 'dynamodb'; location: DynamoStoreLocation };

export interface BakerySettings {
  host: string;
  port: number;
  dataDir: string;
  tokenFile: string | null;
  oidc: OidcSettings | null;
  maxConcurrent: number;
  maxQueued: number;
  maxFileBytes: number;
  cacheTtlMs: number;
  /** How long running bakes may finish after SIGTERM before they are cancelled. */
  graceMs: number;
  statsWindowMs: number;
  store: StoreSetting;
  /** How long a running job's lease lasts without a heartbeat (another bakery then takes it over). */
  leaseMs: number;
}

export interface RunningBakery {
  url: string;
  stop(): Promise<void>;
}

/** Claims the data dir for this process; a live bakery already using it is a config error. */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, 'bakery.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (pid && pid !== process.pid && isProcessAlive(pid))
        throw new ConfigError(`--data-dir ${dataDir}: another bakery (pid ${pid}) is using it`);
      await rm(path, { force: true });
    }
  }
  throw new ConfigError(`--data-dir ${dataDir}: could not claim ${path}`);
}

export async function startBakery(settings: BakerySettings, executor: BakeExecutor): Promise<RunningBakery> {
  const logger = pino({ base: { service: 'ovenproof-bakery', pid: process.pid } });
  const secrets = new Set<string>();
  const scrub = (text: string) => [...secrets].reduce((out, secret) => out.split(secret).join('***'), text);
  const log: Logger = {
    info: (message) => logger.info(scrub(message)),
    warn: (message) => logger.warn(scrub(message)),
    debug: (message) => logger.debug(scrub(message)),
    mask: (secret) => void secrets.add(secret),
  };
  await mkdir(settings.dataDir, { recursive: true, mode: 0o700 });
  const unlock = await lockDataDir(settings.dataDir);
  let store: JobStore | null = null;
  try {
    if (settings.store.kind === 'dynamodb') {
      const dynamo = new DynamoJobStore(settings.store.location);
      store = dynamo;
      await dynamo.check();
    } else {
      store = new SqliteJobStore(join(settings.dataDir, 'bakery.sqlite'));
    }
    const files = new FileStore(join(settings.dataDir, 'files'), settings.maxFileBytes);
    await files.init();
    const auth = new Authenticator(settings.tokenFile, settings.oidc);
    await auth.init();
    const bakery = new Bakery({
      store,
      executor,
      files,
      log,
      maxConcurrent: settings.maxConcurrent,
      maxQueued: settings.maxQueued,
      cacheTtlMs: settings.cacheTtlMs,
      leaseMs: settings.leaseMs,
    });
    const app = await createServer({
      bakery,
      auth,
      files,
      statsWindowMs: settings.statsWindowMs,
      loggerInstance: logger,
    });
    await bakery.start();
    await app.listen({ host: settings.host, port: settings.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : settings.port;
    const url = `http://${settings.host.includes(':') ? `[${settings.host}]` : settings.host}:${port}`;
    await bakery.announce({ url, region: executor.region });
    logger.info(
      { url, provider: executor.provider, dataDir: settings.dataDir, owner: bakery.owner },
      'bakery listening',
    );
    const openStore = store;
    return {
      url,
      async stop() {
        logger.info(
          { graceMs: settings.graceMs },
          'bakery stopping: no new bakes; running ones get the grace period',
        );
        await bakery.stop(settings.graceMs);
        await app.close();
        await openStore.close();
        await unlock();
        logger.info('bakery stopped');
      },
    };
  } catch (error) {
    await store?.close();
    await unlock();
    throw error;
  }
}
