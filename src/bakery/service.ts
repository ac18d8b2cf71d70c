/**
 * The bakery's job runner: takes bake requests (one job per bake key while it is queued or running),
 * runs up to `maxConcurrent` bakes through the executor, records their events and resource ledgers in
 * the job store, and keeps every running job's heartbeat (its lease) fresh. A job whose bakery died
 * (found at start, or by its lease running out while bakeries share one store) is taken over by one
 * bakery, which deletes its ledger's resources and fails it with a message.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { CancelledError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ResourceJournal, RunContext } from '../providers/provider.js';
import type { BakeExecutor, ExecutorRequest, PromoteOptions } from './executor.js';
import { regionRefusal } from './peers.js';
import type { FileStore } from './files.js';
import { FINAL_STATES, publicJob, type BakeEvent, type BakeJob, type BakeRequestBody } from './model.js';
import type { BakeryRecord, JobStore } from './store.js';

export class RequestError extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 429 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

export interface BakeryOptions {
  store: JobStore;
  executor: BakeExecutor;
  files: FileStore;
  log: Logger;
  maxConcurrent: number;
  /** Queued jobs beyond this are refused with 429. */
  maxQueued: number;
  /** How long a cached bake lives after it was made (its `ovenproof:expires-at`). */
  cacheTtlMs: number;
  /**
   * How long a running job's lease lasts without a heartbeat before another bakery takes it over; the
   * heartbeat renews it every sixth of that.
   */
  leaseMs?: number;
}

interface RunningJob {
  controller: AbortController;
  done: Promise<void>;
}

const DAY = 86_400_000;
/** How often a client's event stream looks for the events of a bake that another bakery runs. */
const EVENT_POLL_MS = 500;

export class Bakery {
  /** This process: recorded as the owner of the jobs it runs. */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly running = new Map<string, RunningJob>();
  private readonly live = new EventEmitter();
  private stopping = false;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private pumping = false;
  /** Bake-key computations in progress, by request: identical requests arriving together share one. */
  private readonly keysInFlight = new Map<string, Promise<string>>();
  private readonly leaseMs: number;
  /** Jobs this bakery runs but whose lease another bakery took: their end is not ours to record. */
  private readonly leaseLost = new Set<string>();
  private readonly startedAt = new Date().toISOString();
  private identity: { url: string; region: string | null } | null = null;
  /** The last event being recorded, per job. */
  private readonly emitting = new Map<string, Promise<void>>();

  constructor(private readonly options: BakeryOptions) {
    this.live.setMaxListeners(0);
    this.leaseMs = options.leaseMs ?? 30_000;
  }

  /** True from SIGTERM on: no new bakes, running ones finish within the grace period. */
  get shuttingDown(): boolean {
    return this.stopping;
  }

  get store(): JobStore {
    return this.options.store;
  }

  get executor(): BakeExecutor {
    return this.options.executor;
  }

  /** Recovers what a dead bakery left, then starts running queued jobs. */
  async start(): Promise<void> {
    // A store of our own (the data dir is ours alone): every running job's bakery is gone. A shared
    // store: only jobs whose lease ran out are.
    const now = new Date();
    await this.recoverOrphans(
      this.store.shared ? new Date(now.getTime() - this.leaseMs).toISOString() : now.toISOString(),
    );
    this.heartbeatTimer = setInterval(() => void this.tick(), this.leaseMs / 6);
    this.heartbeatTimer.unref();
    void this.pump();
  }

  /** The bakeries of the store; `live` when one renewed its record within a lease. */
  async bakeries(): Promise<Array<BakeryRecord & { live: boolean }>> {
    const liveSince = new Date(Date.now() - this.leaseMs).toISOString();
    return (await this.store.bakeries()).map((record) => ({
      ...record,
      live: record.heartbeatAt >= liveSince,
    }));
  }

  /** Records this bakery in the store's list of bakeries (and keeps it fresh with the heartbeat). */
  async announce(identity: { url: string; region: string | null }): Promise<void> {
    this.identity = identity;
    await this.register();
  }

  private async register(): Promise<void> {
    if (!this.identity) return;
    await this.store.registerBakery({
      id: this.owner,
      region: this.identity.region,
      provider: this.options.executor.provider,
      url: this.identity.url,
      startedAt: this.startedAt,
      heartbeatAt: new Date().toISOString(),
    });
  }

  private async tick(): Promise<void> {
    try {
      const lost = await this.store.heartbeat(this.owner, [...this.running.keys()], new Date().toISOString());
      for (const id of lost) {
        const running = this.running.get(id);
        if (!running || this.leaseLost.has(id)) continue;
        this.leaseLost.add(id);
        this.options.log.warn(`bake ${id}: another bakery took over its lease; stopping it here`);
        running.controller.abort(new CancelledError(`bake ${id} lost its lease`));
      }
      await this.register();
      await this.recoverOrphans(new Date(Date.now() - this.leaseMs).toISOString());
      void this.pump();
    } catch (error) {
      this.options.log.warn(`heartbeat failed: ${errorMessage(error)}`);
    }
  }

  private async recoverOrphans(staleBefore: string): Promise<void> {
    for (const orphan of await this.store.orphans(staleBefore)) {
      if (this.running.has(orphan.id)) continue;
      // Bakeries sharing the store may find the same orphan: only the one that takes its lease cleans.
      const job = await this.store.takeOver(orphan, this.owner, new Date().toISOString());
      if (!job) continue;
      this.options.log.warn(
        `bake ${job.id}: its bakery ${orphan.owner ?? 'unknown'} is gone; taking it over`,
      );
      const leftovers = await this.cleanupLedger(job.id);
      const message =
        `the bakery running this bake (${orphan.owner ?? 'unknown'}) stopped mid-bake; ` +
        (leftovers.failed.length
          ? `${leftovers.deleted} resource(s) cleaned up, ${leftovers.failed.length} could not be: ${leftovers.failed.join('; ')}`
          : `its ${leftovers.deleted} leftover resource(s) were cleaned up; request the bake again`);
      await this.finish(job.id, { state: 'failed', error: { message } });
      this.options.log.warn(`bake ${job.id} failed: ${message}`);
    }
  }

  /** Deletes every resource the job's ledger still shows as live, newest first. */
  private async cleanupLedger(jobId: string): Promise<{ deleted: number; failed: string[] }> {
    const entries = (await this.store.ledger(jobId)).filter(
      (e) => e.state === 'creating' || e.state === 'live',
    );
    const result = { deleted: 0, failed: [] as string[] };
    for (const entry of entries.reverse()) {
      try {
        await this.options.executor.deleteResource(entry, this.options.log);
        await this.store.ledgerSetState(jobId, entry.key, 'deleted');
        result.deleted++;
      } catch (error) {
        result.failed.push(`${entry.kind} ${entry.id ?? entry.key}: ${errorMessage(error)}`);
      }
    }
    return result;
  }

  private async executorRequest(request: BakeRequestBody): Promise<ExecutorRequest> {
    const packageFiles: string[] = [];
    for (const [index, digest] of request.files.entries()) {
      const path = await this.options.files.pathOf(digest);
      if (!path)
        throw new RequestError(
          400,
          'unknown_file',
          `files[${index}]: no uploaded file with sha256 ${digest}; upload it first (POST /v1/files)`,
        );
      packageFiles.push(path);
    }
    return {
      baseImage: request.baseImage,
      packageFiles,
      packages: request.packages,
      ...(request.provisionScript !== undefined ? { provisionScript: request.provisionScript } : {}),
      strategy: request.strategy ?? 'auto',
      ...(request.region !== undefined ? { region: request.region } : {}),
      ...(request.forwardedBy !== undefined ? { forwardedBy: request.forwardedBy } : {}),
    };
  }

  /** Returns the job for this request: an existing one with the same bake key, or a new queued one. */
  async submit(request: BakeRequestBody, requestedBy: string): Promise<{ job: BakeJob; created: boolean }> {
    if (this.stopping) throw new RequestError(503, 'stopping', 'the bakery is shutting down; retry shortly');
    const { executor } = this.options;
    const refusal = regionRefusal(executor, request);
    if (refusal) throw new RequestError(400, 'wrong_region', refusal);
    const bakeKey = await this.bakeKeyOf(request);
    const succeeded = await this.store.latestSucceeded(bakeKey);
    if (succeeded?.image && (await executor.imageAlive(succeeded.image.id)))
      return { job: succeeded, created: false };
    // Reads at most a full queue's worth of jobs, whatever the store holds.
    const queued = (await this.store.list({ state: 'queued', limit: this.options.maxQueued })).length;
    if (queued >= this.options.maxQueued)
      throw new RequestError(429, 'queue_full', `the bake queue is full (${queued} queued); retry later`);
    const now = new Date().toISOString();
    const result = await this.store.insertUnlessActive({
      id: `bk-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`,
      state: 'queued',
      bakeKey,
      request,
      requestedBy,
      step: null,
      progress: 0,
      image: null,
      error: null,
      cacheHit: false,
      durationsMs: {},
      createdAt: now,
      startedAt: null,
      finishedAt: null,
      heartbeatAt: null,
      owner: null,
    });
    if (result.created) {
      await this.emit(result.job.id, 'state', { state: 'queued', requestedBy });
      this.options.log.info(
        `bake ${result.job.id} queued for ${requestedBy} (bake key ${bakeKey.slice(0, 12)})`,
      );
      void this.pump();
    }
    return result;
  }

  private bakeKeyOf(request: BakeRequestBody): Promise<string> {
    const identity = JSON.stringify([
      request.baseImage,
      request.packages,
      request.files,
      request.provisionScript ?? null,
      request.strategy ?? 'auto',
      request.region ?? null,
      request.forwardedBy ?? null,
    ]);
    let pending = this.keysInFlight.get(identity);
    if (!pending) {
      pending = this.executorRequest(request)
        .then((executorRequest) => this.options.executor.bakeKeyOf(executorRequest))
        .finally(() => this.keysInFlight.delete(identity));
      this.keysInFlight.set(identity, pending);
    }
    return pending;
  }

  /**
   * Promotes a succeeded bake's image and copies it to other regions, recording the copies in the
   * job's ledger (the executor hands a relayed bake to the peer that made it).
   */
  async promote(
    id: string,
    options: PromoteOptions,
  ): Promise<{ job: BakeJob; copies: Array<{ region: string; id: string }> }> {
    const job = await this.store.get(id);
    if (!job) throw new RequestError(404, 'not_found', `no bake ${id}`);
    if (job.state !== 'succeeded' || !job.image)
      throw new RequestError(
        409,
        'not_succeeded',
        `bake ${id} is ${job.state}: only a succeeded bake's image can be promoted`,
      );
    // Regions this bake's image was already copied to (an earlier promote) are answered from its ledger:
    // a finished copy of a promoted image is recorded there as kept.
    const copied = (await this.store.ledger(job.id)).filter(
      (e) => e.kind === 'image' && e.region && e.id && e.id !== job.image!.id && e.state === 'kept',
    );
    const known = copied.filter((e) => options.regions.includes(e.region!));
    const { copies: made } = await this.options.executor.promote(
      { image: job.image, request: job.request },
      { ...options, regions: options.regions.filter((r) => !known.some((e) => e.region === r)) },
      {
        runId: `bakery-${job.id}`,
        expiresAt: new Date(Date.now() + this.options.cacheTtlMs),
        journal: this.journalFor(job.id),
        signal: AbortSignal.timeout(30 * 60_000),
        log: this.options.log,
        progress: () => undefined,
        tags: { 'ovenproof:bakery-job': job.id },
      },
    );
    const copies = [...known.map((e) => ({ region: e.region!, id: e.id! })), ...made];
    this.options.log.info(
      `bake ${id}: image ${job.image.id} promoted${copies.length ? `, copied to ${copies.map((c) => `${c.region} (${c.id})`).join(', ')}` : ''}`,
    );
    return { job, copies };
  }

  async cancel(id: string): Promise<BakeJob> {
    const job = await this.store.get(id);
    if (!job) throw new RequestError(404, 'not_found', `no bake ${id}`);
    const running = this.running.get(id);
    if (running) {
      running.controller.abort(new CancelledError(`bake ${id} cancelled`));
      await running.done;
    } else if (job.state === 'queued') {
      await this.finish(id, { state: 'cancelled', error: { message: 'cancelled before it started' } });
    }
    return (await this.store.get(id))!;
  }

  /**
   * Live events of a job; returns the unsubscribe function. On a shared store the job may run in
   * another bakery: its events are then read from the store as they arrive there.
   */
  subscribe(id: string, listener: (event: BakeEvent) => void): () => void {
    this.live.on(id, listener);
    if (!this.store.shared) return () => this.live.off(id, listener);
    let after = 0;
    let reading = false;
    const poll = setInterval(() => {
      if (reading || this.running.has(id)) return;
      reading = true;
      void this.store
        .events(id, after)
        .then((events) => {
          for (const event of events) {
            after = event.seq;
            listener(event);
          }
        })
        .catch((error: unknown) => this.options.log.warn(`events of bake ${id}: ${errorMessage(error)}`))
        .finally(() => (reading = false));
    }, EVENT_POLL_MS);
    return () => {
      clearInterval(poll);
      this.live.off(id, listener);
    };
  }

  /** Records an event and tells the subscribers, one at a time per job so that they arrive in order. */
  private emit(id: string, type: BakeEvent['type'], data: Record<string, unknown>): Promise<void> {
    const previous = this.emitting.get(id) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        const event = await this.store.appendEvent(id, type, data);
        this.live.emit(id, event);
      });
    this.emitting.set(id, next);
    void next
      .finally(() => {
        if (this.emitting.get(id) === next) this.emitting.delete(id);
      })
      .catch(() => undefined);
    return next;
  }

  private async finish(id: string, patch: Partial<BakeJob>): Promise<void> {
    const job = await this.store.update(id, { ...patch, finishedAt: new Date().toISOString() });
    await this.emit(id, 'done', { bake: publicJob(job) });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.stopping && this.running.size < this.options.maxConcurrent) {
        // A bake needs its uploaded files here: a job asked of another bakery of the fleet whose
        // files this one lacks is left to a bakery that has them.
        const job = await this.store.claimNext(this.owner, new Date().toISOString(), (candidate) =>
          this.hasFiles(candidate.request),
        );
        if (!job) break;
        const controller = new AbortController();
        const entry: RunningJob = { controller, done: Promise.resolve() };
        this.running.set(job.id, entry);
        entry.done = this.run(job, controller.signal).finally(() => {
          this.running.delete(job.id);
          void this.pump();
        });
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Whether this bakery still holds the lease of a job it runs (no other bakery took it over). */
  private async holdsLease(jobId: string): Promise<boolean> {
    const job = await this.store.get(jobId);
    return job?.state === 'running' && job.owner === this.owner;
  }

  private async hasFiles(request: BakeRequestBody): Promise<boolean> {
    for (const digest of request.files) if (!(await this.options.files.pathOf(digest))) return false;
    return true;
  }

  private journalFor(jobId: string): ResourceJournal {
    const store = this.store;
    return {
      intend: (entry) => store.ledgerIntend(jobId, entry),
      created: (key, id, data) => store.ledgerCreated(jobId, key, id, data),
      deleted: (key) => store.ledgerSetState(jobId, key, 'deleted'),
      kept: (key) => store.ledgerSetState(jobId, key, 'kept'),
    };
  }

  private jobLogger(jobId: string): Logger {
    const { log } = this.options;
    return {
      info: (message) => {
        log.info(`bake ${jobId}: ${message}`);
        void this.emit(jobId, 'log', { level: 'info', message });
      },
      warn: (message) => {
        log.warn(`bake ${jobId}: ${message}`);
        void this.emit(jobId, 'log', { level: 'warn', message });
      },
      debug: (message) => log.debug(`bake ${jobId}: ${message}`),
      mask: (secret) => log.mask(secret),
    };
  }

  private async run(job: BakeJob, signal: AbortSignal): Promise<void> {
    const { executor, log } = this.options;
    await this.emit(job.id, 'state', { state: 'running', owner: this.owner });
    log.info(`bake ${job.id} started`);
    let step: string | null = null;
    // Progress writes are chained so that events reach the store (and the clients) in order.
    let writes: Promise<void> = Promise.resolve();
    const ctx: RunContext = {
      runId: `bakery-${job.id}`,
      expiresAt: new Date(Date.now() + this.options.cacheTtlMs),
      journal: this.journalFor(job.id),
      signal,
      log: this.jobLogger(job.id),
      progress: ({ label, fraction }) => {
        const progress = Math.max(0, Math.min(1, fraction ?? 0));
        const changed = label !== step;
        step = label;
        writes = writes.then(async () => {
          if (changed) await this.emit(job.id, 'step', { step: label, progress });
          await this.emit(job.id, 'progress', { step: label, progress });
          await this.store.update(job.id, { step: label, progress });
        });
      },
      tags: { 'ovenproof:bakery-job': job.id },
    };
    try {
      const outcome = await executor.bake(await this.executorRequest(job.request), ctx);
      await writes;
      // A bakery that stalled past its lease finds its bake ended by another: the image goes too.
      if (!(await this.holdsLease(job.id))) throw new CancelledError(`bake ${job.id} lost its lease`);
      // The image is the bakery's bake cache entry: it outlives the job, until its expiry.
      const imageEntry = (await this.store.ledger(job.id)).find(
        (e) => e.kind === 'image' && e.id === outcome.image.id && e.state === 'live',
      );
      if (imageEntry) await this.store.ledgerSetState(job.id, imageEntry.key, 'kept');
      const leftovers = await this.cleanupLedger(job.id);
      if (leftovers.failed.length) log.warn(`bake ${job.id}: cleanup left ${leftovers.failed.join('; ')}`);
      await this.finish(job.id, {
        state: 'succeeded',
        image: outcome.image,
        cacheHit: outcome.cacheHit,
        durationsMs: outcome.durationsMs,
        progress: 1,
      });
      log.info(
        `bake ${job.id} succeeded: image ${outcome.image.id}${outcome.cacheHit ? ' (cache hit)' : ''}`,
      );
    } catch (error) {
      await writes.catch(() => undefined);
      if (this.leaseLost.delete(job.id) || !(await this.holdsLease(job.id))) {
        // The bakery that took the lease cleaned the ledger and ended the job; whatever this process
        // made since is cleaned here.
        const leftovers = await this.cleanupLedger(job.id);
        log.warn(`bake ${job.id} stopped here (lease lost); ${leftovers.deleted} resource(s) cleaned`);
        return;
      }
      const cancelled = signal.aborted;
      // The baker's steps undo what they made; whatever its ledger still shows as live goes now.
      const leftovers = await this.cleanupLedger(job.id);
      const message = cancelled
        ? `cancelled${this.stopping ? ' (the bakery is shutting down)' : ''}`
        : errorMessage(error);
      const suffix = leftovers.failed.length ? `; cleanup failed: ${leftovers.failed.join('; ')}` : '';
      await this.finish(job.id, {
        state: cancelled ? 'cancelled' : 'failed',
        error: { message: message + suffix },
      });
      log.warn(`bake ${job.id} ${cancelled ? 'cancelled' : 'failed'}: ${message}${suffix}`);
    }
  }

  /** Stops taking jobs, lets running bakes finish for `graceMs`, then cancels (and cleans) the rest. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const all = () => Promise.all([...this.running.values()].map((r) => r.done));
    const timedOut = await Promise.race([
      all().then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
    ]);
    if (timedOut) {
      for (const job of this.running.values())
        job.controller.abort(new CancelledError('the bakery is shutting down'));
      await all();
    }
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    await this.store.unregisterBakery(this.owner).catch(() => undefined);
  }

  isFinal(job: BakeJob): boolean {
    return FINAL_STATES.includes(job.state);
  }

  static readonly DEFAULT_CACHE_TTL_MS = 7 * DAY;
}
