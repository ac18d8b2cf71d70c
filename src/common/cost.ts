/**
 * What a run cost: instance seconds per instance type and GB-hours of storage, measured from the run's
 * resource records, and a USD estimate from a price table (the built-in one, or the file named by
 * OVENPROOF_PRICES). The estimate is null whenever any part has no known price (another instance type or
 * region, the local provider): a missing number is better than a wrong one.
 */
import { readFile } from 'node:fs/promises';
import { formatDuration } from './duration.js';
import { ConfigError } from './errors.js';
import { BUILTIN_PRICES, HOURS_PER_MONTH, type PriceTable, type RegionPrices } from './prices.js';

export interface RunCost {
  /** Seconds each instance type ran during the run (the local provider's instances count as `local`). */
  instanceSeconds: Record<string, number>;
  /** Volume and snapshot storage the run held, in GB × hours. */
  storageGbHours: number;
  /** USD, or null when some usage has no price in the table. */
  estimatedUsd: number | null;
  /** Which prices were used, or why there is no estimate. */
  priceSource: string;
}

/** The fields of a ledger entry the measurement reads. */
export interface MeteredResource {
  kind: string;
  createdAt: string;
  deletedAt: string | null;
  region?: string;
  data: Record<string, string>;
}

export interface CostInput {
  provider: string;
  /** Default region of the run (EC2); resources may name their own. */
  region: string | null;
  resources: readonly MeteredResource[];
  /** End of the measurement for resources still live (kept instances count until the run ends). */
  now: Date;
}

/** Instance type recorded for local instances, which have no type of their own. */
export const LOCAL_INSTANCE_TYPE = 'local';

interface Usage {
  instances: Array<{ type: string; region: string | null; seconds: number }>;
  storage: Array<{ kind: 'volume' | 'snapshot'; region: string | null; gbHours: number }>;
}

function secondsLive(resource: MeteredResource, now: Date): number {
  const start = Date.parse(resource.createdAt);
  const end = resource.deletedAt ? Date.parse(resource.deletedAt) : now.getTime();
  if (!Number.isFinite(start) || !Number.isFinite(end)) return 0;
  return Math.max(0, (end - start) / 1000);
}

function measure(input: CostInput): Usage {
  const usage: Usage = { instances: [], storage: [] };
  for (const resource of input.resources) {
    const region = resource.region ?? input.region;
    const seconds = secondsLive(resource, input.now);
    if (resource.kind === 'instance') {
      const type =
        resource.data.instanceType ?? (input.provider === 'local' ? LOCAL_INSTANCE_TYPE : 'unknown');
      usage.instances.push({ type, region, seconds });
    } else if (resource.kind === 'volume' || resource.kind === 'snapshot') {
      const gb = Number(resource.data.sizeGb);
      if (Number.isFinite(gb) && gb > 0)
        usage.storage.push({ kind: resource.kind, region, gbHours: (gb * seconds) / 3600 });
    }
  }
  return usage;
}

function priceOf(table: PriceTable, region: string | null): RegionPrices | null {
  return region ? (table.regions[region] ?? null) : null;
}

/** Measures a run's usage and prices it; see RunCost. */
export function estimateRunCost(input: CostInput, table: PriceTable): RunCost {
  const usage = measure(input);
  const instanceSeconds: Record<string, number> = {};
  for (const { type, seconds } of usage.instances)
    instanceSeconds[type] = Math.round((instanceSeconds[type] ?? 0) + seconds);
  const storageGbHours = round(
    usage.storage.reduce((sum, s) => sum + s.gbHours, 0),
    4,
  );
  if (input.provider === 'local') {
    return {
      instanceSeconds,
      storageGbHours,
      estimatedUsd: null,
      priceSource: 'local provider: runs on this machine, no cloud charges',
    };
  }
  let usd = 0;
  const unpriced: string[] = [];
  for (const { type, region, seconds } of usage.instances) {
    const hourly = priceOf(table, region)?.instanceHourly[type];
    if (hourly === undefined) unpriced.push(`${type} in ${region ?? 'an unknown region'}`);
    else usd += (hourly * seconds) / 3600;
  }
  for (const { kind, region, gbHours } of usage.storage) {
    const prices = priceOf(table, region);
    if (!prices) unpriced.push(`${kind} storage in ${region ?? 'an unknown region'}`);
    else
      usd +=
        (gbHours * (kind === 'volume' ? prices.volumeGbMonth : prices.snapshotGbMonth)) / HOURS_PER_MONTH;
  }
  if (unpriced.length > 0) {
    return {
      instanceSeconds,
      storageGbHours,
      estimatedUsd: null,
      priceSource: `no price for ${[...new Set(unpriced)].join(', ')} in ${table.source} (add it with OVENPROOF_PRICES)`,
    };
  }
  return { instanceSeconds, storageGbHours, estimatedUsd: round(usd, 6), priceSource: table.source };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * The price table to use: the built-in one, with the regions and types of the OVENPROOF_PRICES file (same
 * shape as the built-in table, JSON) laid over it. A broken file is a config error naming the file.
 */
export async function loadPriceTable(env: NodeJS.ProcessEnv = process.env): Promise<PriceTable> {
  const path = env.OVENPROOF_PRICES;
  if (!path) return BUILTIN_PRICES;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`OVENPROOF_PRICES=${path}: cannot read it as JSON (${(error as Error).message})`);
  }
  const override = validatePriceFile(path, parsed);
  const regions: Record<string, RegionPrices> = { ...BUILTIN_PRICES.regions };
  for (const [name, prices] of Object.entries(override.regions)) {
    const base = regions[name];
    regions[name] = {
      instanceHourly: { ...(base?.instanceHourly ?? {}), ...(prices.instanceHourly ?? {}) },
      volumeGbMonth: prices.volumeGbMonth ?? base?.volumeGbMonth ?? Number.NaN,
      snapshotGbMonth: prices.snapshotGbMonth ?? base?.snapshotGbMonth ?? Number.NaN,
    };
    if (Number.isNaN(regions[name].volumeGbMonth) || Number.isNaN(regions[name].snapshotGbMonth)) {
      throw new ConfigError(
        `OVENPROOF_PRICES=${path}: region ${name} is not in the built-in table, so it needs volumeGbMonth and snapshotGbMonth`,
      );
    }
  }
  return { source: `${override.source} (${path}) over ${BUILTIN_PRICES.source}`, regions };
}

type PriceFile = { source: string; regions: Record<string, Partial<RegionPrices>> };

function validatePriceFile(path: string, value: unknown): PriceFile {
  const fail = (what: string): never => {
    throw new ConfigError(`OVENPROOF_PRICES=${path}: ${what}`);
  };
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  const price = (v: unknown, where: string): number =>
    typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fail(`${where} must be a price ≥ 0 in USD`);
  if (!isObject(value)) return fail('must be a JSON object {"source": "...", "regions": {...}}');
  if (typeof value.source !== 'string' || !value.source.trim())
    fail('"source" must say where the prices come from and when');
  if (!isObject(value.regions)) fail('"regions" must be an object of region → prices');
  const regions: Record<string, Partial<RegionPrices>> = {};
  for (const [name, raw] of Object.entries(value.regions as Record<string, unknown>)) {
    if (!isObject(raw)) fail(`regions.${name} must be an object`);
    const r = raw as Record<string, unknown>;
    const out: Partial<RegionPrices> = {};
    if (r.instanceHourly !== undefined) {
      if (!isObject(r.instanceHourly))
        fail(`regions.${name}.instanceHourly must map instance types to USD per hour`);
      out.instanceHourly = Object.fromEntries(
        Object.entries(r.instanceHourly as Record<string, unknown>).map(([type, v]) => [
          type,
          price(v, `regions.${name}.instanceHourly.${type}`),
        ]),
      );
    }
    if (r.volumeGbMonth !== undefined)
      out.volumeGbMonth = price(r.volumeGbMonth, `regions.${name}.volumeGbMonth`);
    if (r.snapshotGbMonth !== undefined)
      out.snapshotGbMonth = price(r.snapshotGbMonth, `regions.${name}.snapshotGbMonth`);
    for (const key of Object.keys(r)) {
      if (!['instanceHourly', 'volumeGbMonth', 'snapshotGbMonth'].includes(key))
        fail(`regions.${name}.${key} is not a known field (instanceHourly, volumeGbMonth, snapshotGbMonth)`);
    }
    regions[name] = out;
  }
  return { source: (value.source as string).trim(), regions };
}

/** One line for summaries: "~$0.0042 (t3.small 3m12s; 0.53 GB·h storage)" or seconds without a price. */
export function costLine(cost: RunCost): string {
  const parts = Object.entries(cost.instanceSeconds).map(
    ([type, seconds]) =>
      `${type === LOCAL_INSTANCE_TYPE ? 'local instance' : type} ${formatDuration(seconds * 1000)}`,
  );
  if (cost.storageGbHours > 0) parts.push(`${cost.storageGbHours.toFixed(2)} GB·h storage`);
  const usage = parts.length ? parts.join(', ') : 'no instances';
  if (cost.estimatedUsd === null) return `${usage}; no USD estimate (${cost.priceSource})`;
  return `~$${cost.estimatedUsd < 0.01 ? cost.estimatedUsd.toFixed(4) : cost.estimatedUsd.toFixed(2)} (${usage}; prices: ${cost.priceSource})`;
}
