/**
 * The durable resource ledger: a JSON file, rewritten atomically on every change, that
 * lists every resource a run has started to create. The post step and `ovenproof sweep --ledger` read
 * it to delete what is still live after a crash or a kill.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../common/atomic-file.js';
import type { LedgerEntry, ResourceJournal, ProviderName, ResourceKind } from '../providers/provider.js';

export interface LedgerFile {
  version: 1;
  runId: string;
  /** Provider settings needed to rebuild the provider in another process (region, home dir…). */
  providerOptions: Record<string, unknown>;
  entries: LedgerEntry[];
}

export class Ledger implements ResourceJournal {
  private writes: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    private readonly file: LedgerFile,
  ) {}

  static async create(path: string, runId: string, providerOptions: Record<string, unknown> = {}) {
    const ledger = new Ledger(path, { version: 1, runId, providerOptions, entries: [] });
    await ledger.flush();
    return ledger;
  }

  static async open(path: string): Promise<Ledger> {
    const text = await readFile(path, 'utf8');
    const parsed = JSON.parse(text) as LedgerFile;
    if (parsed.version !== 1 || !Array.isArray(parsed.entries)) {
      throw new Error(`${path} is not an ovenproof ledger (version ${String(parsed.version)})`);
    }
    return new Ledger(path, parsed);
  }

  get runId(): string {
    return this.file.runId;
  }

  get providerOptions(): Record<string, unknown> {
    return this.file.providerOptions;
  }

  entries(): readonly LedgerEntry[] {
    return this.file.entries;
  }

  /** Entries that may still exist, newest first: the order cleanup must follow. */
  live(): LedgerEntry[] {
    return this.file.entries.filter((e) => e.state === 'creating' || e.state === 'live').reverse();
  }

  /** Live entries plus those kept on purpose (a kept image or debugging instance), newest first. */
  liveOrKept(): LedgerEntry[] {
    return this.file.entries.filter((e) => e.state !== 'deleted').reverse();
  }

  async intend(entry: {
    key: string;
    provider: ProviderName;
    kind: ResourceKind;
    region?: string;
    data?: Record<string, string>;
  }): Promise<void> {
    if (this.file.entries.some((e) => e.key === entry.key && e.state !== 'deleted')) {
      throw new Error(`ledger already has a live resource with key ${entry.key}`);
    }
    this.file.entries.push({
      key: entry.key,
      provider: entry.provider,
      kind: entry.kind,
      id: null,
      ...(entry.region ? { region: entry.region } : {}),
      state: 'creating',
      createdAt: new Date().toISOString(),
      deletedAt: null,
      data: { ...entry.data },
    });
    await this.flush();
  }

  async created(key: string, id: string, data?: Record<string, string>): Promise<void> {
    const entry = this.find(key);
    entry.id = id;
    if (entry.state === 'creating') entry.state = 'live';
    Object.assign(entry.data, data);
    await this.flush();
  }

  async deleted(key: string): Promise<void> {
    const entry = this.find(key);
    entry.state = 'deleted';
    entry.deletedAt = new Date().toISOString();
    await this.flush();
  }

  async kept(key: string): Promise<void> {
    const entry = this.find(key);
    if (entry.state === 'deleted')
      throw new Error(`ledger: ${entry.kind} ${entry.id ?? key} is already deleted`);
    entry.state = 'kept';
    await this.flush();
  }

  private find(key: string): LedgerEntry {
    for (let i = this.file.entries.length - 1; i >= 0; i--) {
      const entry = this.file.entries[i]!;
      if (entry.key === key) return entry;
    }
    throw new Error(`ledger has no resource with key ${key}`);
  }

  /** Serialises writes so that the file on disk always reflects every change made before it. */
  private flush(): Promise<void> {
    const snapshot = JSON.stringify(this.file, null, 2);
    const next = this.writes.then(() => writeFileAtomic(this.path, snapshot));
    this.writes = next.catch(() => undefined);
    return next;
  }
}
