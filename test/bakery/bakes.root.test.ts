/**
 * (root) Real bakes in real bakery processes (local provider: loop devices, mounts, chroot), driven
 * over HTTP: identical concurrent requests share one bake, events stream in order and replay, a
 * cancelled bake and a SIGKILLed bakery leave nothing attached or mounted.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../src/providers/provider.js';
import { ensureBaseImage, localTestProvider } from '../support/local-base.js';
import { testContext } from '../baker/helpers/context.js';
import { leftovers } from '../baker/helpers/leftovers.js';
import { buildMarkerDeb } from '../baker/helpers/test-deb.js';
import { api, readEvents, startBakery, tempDir, tokenFile, type BakeryProcess } from './helpers.js';
import { budgets, timeoutFor } from '../support/timeouts.js';

const provider = localTestProvider();
const home = provider.paths.home;
const dir = tempDir('bakery-bakes');
const madeImages = new Set<string>();
let token: string;
let baseId: string;
let fileDigest: string;
let deb: string;
let bakery: BakeryProcess;

function bakeBody(tag: string) {
  // A unique provisioning script per case keeps the cases (and earlier runs) from sharing a bake key.
  return {
    baseImage: baseId,
    packages: [],
    files: [fileDigest],
    provisionScript: `# bakery test ${tag} ${Date.now()}\ntrue`,
  };
}

function post(url: string, body: unknown) {
  return api(url, token, '/v1/bakes', { method: 'POST', body: JSON.stringify(body) });
}

/** The job's ledger as the bakery persisted it in its SQLite file. */
function ledgerOf(dataDir: string, jobId: string): LedgerEntry[] {
  const db = new Database(join(dataDir, 'bakery.sqlite'), { readonly: true });
  try {
    const rows = db.prepare('SELECT * FROM ledger WHERE job_id = ? ORDER BY pos').all(jobId) as Array<
      Record<string, string>
    >;
    return rows.map((r) => ({
      key: r.key!,
      provider: 'local',
      kind: r.kind as LedgerEntry['kind'],
      id: r.id ?? null,
      state: r.state as LedgerEntry['state'],
      createdAt: r.created_at!,
      deletedAt: r.deleted_at ?? null,
      data: JSON.parse(r.data!) as Record<string, string>,
    }));
  } finally {
    db.close();
  }
}

function attachedLoops(): string {
  return execFileSync('losetup', ['-a'], { encoding: 'utf8' });
}

function mounted(): string {
  return readFileSync('/proc/self/mountinfo', 'utf8');
}

/** Nothing of the job is live in its ledger, attached as a loop device or mounted. */
function expectNothingLeft(dataDir: string, jobId: string, pid: number) {
  const entries = ledgerOf(dataDir, jobId);
  expect(entries.length).toBeGreaterThan(0);
  expect(entries.filter((e) => e.state === 'live' || e.state === 'creating')).toEqual([]);
  expect(leftovers(home, entries, pid)).toEqual([]);
  const loops = attachedLoops();
  const mounts = mounted();
  for (const entry of entries) {
    if (entry.kind === 'volume') expect(loops).not.toContain(entry.id!);
    if (entry.kind === 'mount') expect(mounts).not.toContain(` ${entry.data.path ?? entry.id} `);
  }
}

beforeAll(async () => {
  baseId = (await ensureBaseImage()).id;
  ({ token } = await tokenFile(dir));
  deb = buildMarkerDeb(dir);
  bakery = await startBakery([
    '--data-dir',
    join(dir, 'data'),
    '--token-file',
    join(dir, 'tokens'),
    '--max-concurrent',
    '1',
  ]);
  const upload = await api(bakery.url, token, '/v1/files', {
    method: 'POST',
    body: readFileSync(deb),
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(upload.status).toBe(201);
  fileDigest = upload.body.sha256;
}, timeoutFor(budgets.baseImage));

afterAll(async () => {
  await bakery?.stop();
  const { ctx } = await testContext(join(dir, 'cleanup-ledger.json'));
  for (const id of madeImages) await provider.deregisterImage(ctx, id).catch(() => undefined);
}, timeoutFor(budgets.teardown));

describe('bakery bakes (root)', () => {
  it(
    'gives two identical concurrent requests one bake and one image; events stream in order and replay',
    async () => {
      const body = bakeBody('concurrent');
      const [a, b] = await Promise.all([post(bakery.url, body), post(bakery.url, body)]);
      expect(a.body.id).toBe(b.body.id);
      expect([a.status, b.status].sort()).toEqual([200, 202]);
      expect(a.body.requestedBy).toBe('token:tests');

      const live = await readEvents(bakery.url, token, a.body.id);
      const done = live.at(-1)!;
      expect(done.type).toBe('done');
      expect(done.data.bake.state).toBe('succeeded');
      const ids = live.map((e) => e.id);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
      const steps = live.filter((e) => e.type === 'step').map((e) => e.data.step);
      expect(steps).toEqual(
        expect.arrayContaining([
          'Copying base volume',
          'Mounting volume',
          'Installing packages',
          'Registering image',
        ]),
      );
      const fractions = live.filter((e) => e.type === 'progress').map((e) => e.data.progress as number);
      expect(fractions).toEqual([...fractions].sort((x, y) => x - y));
      expect(fractions.at(-1)).toBe(1);

      // A client that connects after the end gets the whole story.
      const late = await readEvents(bakery.url, token, a.body.id);
      expect(late.map((e) => [e.id, e.type])).toEqual(live.map((e) => [e.id, e.type]));

      const job = (await api(bakery.url, token, `/v1/bakes/${a.body.id}`)).body;
      madeImages.add(job.image.id);
      expect(job).toMatchObject({ state: 'succeeded', progress: 1, cacheHit: false, error: null });
      const images = (await api(bakery.url, token, '/v1/images')).body.images.filter(
        (i: { bakeKey: string }) => i.bakeKey === job.bakeKey,
      );
      expect(images.map((i: { id: string }) => i.id)).toEqual([job.image.id]);
      // The same request again while the image lives: that bake, no new one.
      const again = await post(bakery.url, body);
      expect(again.status).toBe(200);
      expect(again.body.id).toBe(job.id);
      expectNothingLeft(join(dir, 'data'), job.id, bakery.child.pid!);

      const stats = (await api(bakery.url, token, '/v1/stats')).body;
      expect(stats.countsByState.succeeded).toBeGreaterThanOrEqual(1);
      expect(stats.stepDurationsMs.install.count).toBeGreaterThanOrEqual(1);
    },
    timeoutFor(budgets.volumeBake, budgets.volumeBake),
  );

  it(
    'cancels a running bake with DELETE and leaves nothing attached or mounted',
    async () => {
      const created = await post(bakery.url, bakeBody('cancel'));
      expect(created.status).toBe(202);
      await readEvents(
        bakery.url,
        token,
        created.body.id,
        (e) => e.type === 'step' && e.data.step === 'Installing packages',
      );
      const cancelled = await api(bakery.url, token, `/v1/bakes/${created.body.id}`, { method: 'DELETE' });
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.state).toBe('cancelled');
      expect(cancelled.body.image).toBeNull();
      const events = await readEvents(bakery.url, token, created.body.id);
      expect(events.at(-1)!.data.bake.state).toBe('cancelled');
      expectNothingLeft(join(dir, 'data'), created.body.id, bakery.child.pid!);
    },
    timeoutFor(budgets.volumeBake, budgets.volumeBake),
  );

  it(
    'after SIGKILL mid-bake and a restart: the bake failed with a message, nothing is left, the request bakes anew',
    async () => {
      const dataDir = join(dir, 'killed');
      const args = ['--data-dir', dataDir, '--token-file', join(dir, 'tokens')];
      let victim = await startBakery(args);
      const body = bakeBody('sigkill');
      const upload = await api(victim.url, token, '/v1/files', {
        method: 'POST',
        body: readFileSync(deb),
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(upload.body.sha256).toBe(fileDigest);
      const created = await post(victim.url, body);
      expect(created.status).toBe(202);
      await readEvents(
        victim.url,
        token,
        created.body.id,
        (e) => e.type === 'step' && e.data.step === 'Blocking service starts',
      );
      // Mounted and attached right now: the kill leaves them behind for the restart to clean.
      const before = ledgerOf(dataDir, created.body.id).filter((e) => e.state === 'live');
      expect(before.map((e) => e.kind)).toEqual(expect.arrayContaining(['volume', 'attachment', 'mount']));
      const deadPid = victim.child.pid!;
      await victim.kill();

      victim = await startBakery(args);
      try {
        const job = (await api(victim.url, token, `/v1/bakes/${created.body.id}`)).body;
        expect(job.state).toBe('failed');
        expect(job.error.message).toMatch(/stopped mid-bake/);
        expect((await api(victim.url, token, '/v1/bakes?state=running')).body.bakes).toEqual([]);
        expectNothingLeft(dataDir, created.body.id, deadPid);

        const anew = await post(victim.url, body);
        expect(anew.status).toBe(202);
        expect(anew.body.id).not.toBe(created.body.id);
        const done = (await readEvents(victim.url, token, anew.body.id)).at(-1)!;
        expect(done.data.bake.state).toBe('succeeded');
        madeImages.add(done.data.bake.image.id);
      } finally {
        expect(await victim.stop()).toBe(0);
      }
    },
    timeoutFor(budgets.volumeBake, budgets.volumeBake, budgets.volumeBake),
  );
});
