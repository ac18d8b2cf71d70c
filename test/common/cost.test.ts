import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { costLine, estimateRunCost, loadPriceTable, type MeteredResource } from '../../src/common/cost.js';
import { BUILTIN_PRICES } from '../../src/common/prices.js';

const t0 = Date.parse('2026-12-01T10:00:00.000Z');
const at = (s: number) => new Date(t0 + s * 1000).toISOString();
const now = new Date(t0 + 600_000);

function instance(type: string | null, from: number, to: number | null, region?: string): MeteredResource {
  return {
    kind: 'instance',
    createdAt: at(from),
    deletedAt: to === null ? null : at(to),
    ...(region ? { region } : {}),
    data: type ? { instanceType: type } : {},
  };
}

describe('run cost', () => {
  it('prices EC2 instance seconds and volume storage from the built-in table', () => {
    const cost = estimateRunCost(
      {
        provider: 'ec2',
        region: 'us-east-1',
        now,
        resources: [
          instance('t3.small', 0, 3600),
          instance('t3.small', 100, 280),
          { kind: 'volume', createdAt: at(0), deletedAt: at(1800), data: { sizeGb: '8' } },
          { kind: 'security-group', createdAt: at(0), deletedAt: at(10), data: {} },
        ],
      },
      BUILTIN_PRICES,
    );
    expect(cost.instanceSeconds).toEqual({ 't3.small': 3780 });
    expect(cost.storageGbHours).toBe(4);
    // 1.05 h × 0.0208 + 4 GB·h × 0.08 / 730
    expect(cost.estimatedUsd).toBeCloseTo(0.02184 + 0.000438, 6);
    expect(cost.priceSource).toBe(BUILTIN_PRICES.source);
    expect(costLine(cost)).toMatch(
      /^~\$0\.02 \(t3\.small 63m, 4\.00 GB·h storage; prices: ovenproof built-in table/,
    );
  });

  it('gives null, never a guess, for an unknown type or region, and names what is missing', () => {
    const cost = estimateRunCost(
      { provider: 'ec2', region: 'ap-south-7', now, resources: [instance('x9.huge', 0, 60)] },
      BUILTIN_PRICES,
    );
    expect(cost.estimatedUsd).toBeNull();
    expect(cost.instanceSeconds).toEqual({ 'x9.huge': 60 });
    expect(cost.priceSource).toMatch(/no price for x9\.huge in ap-south-7/);
  });

  it('reports local instance seconds (a kept one until now) and a null USD estimate', () => {
    const cost = estimateRunCost(
      { provider: 'local', region: null, now, resources: [instance(null, 0, 95), instance(null, 500, null)] },
      BUILTIN_PRICES,
    );
    expect(cost).toMatchObject({ instanceSeconds: { local: 195 }, estimatedUsd: null });
    expect(costLine(cost)).toMatch(/^local instance 3m15s; no USD estimate \(local provider/);
  });

  it('lays an OVENPROOF_PRICES file over the built-in table and names bad files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-prices-'));
    const file = join(dir, 'prices.json');
    await writeFile(
      file,
      JSON.stringify({
        source: 'our negotiated rates, 2026-11',
        regions: { 'us-east-1': { instanceHourly: { 'x9.huge': 1.5 } } },
      }),
    );
    const table = await loadPriceTable({ OVENPROOF_PRICES: file });
    expect(table.regions['us-east-1']!.instanceHourly['t3.small']).toBe(0.0208);
    const cost = estimateRunCost(
      { provider: 'ec2', region: 'us-east-1', now, resources: [instance('x9.huge', 0, 1800)] },
      table,
    );
    expect(cost.estimatedUsd).toBe(0.75);
    expect(cost.priceSource).toContain('our negotiated rates, 2026-11');

    await writeFile(
      file,
      JSON.stringify({ source: 'x', regions: { 'us-east-1': { instanceHourly: { a: -1 } } } }),
    );
    await expect(loadPriceTable({ OVENPROOF_PRICES: file })).rejects.toThrow(
      /OVENPROOF_PRICES=.*regions\.us-east-1\.instanceHourly\.a must be a price/,
    );
    await expect(loadPriceTable({ OVENPROOF_PRICES: join(dir, 'missing.json') })).rejects.toThrow(
      /missing\.json: cannot read it as JSON/,
    );
  });
});
