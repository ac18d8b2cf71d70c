/**
 * `baker-url` as one URL or region=URL pairs: parsing in every form a user writes it (Action input
 * text with commas or newlines, `--set`, a YAML mapping in ovenproof.yml), the choice of the run's
 * bakery by its region, and the errors that name what is wrong.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/common/errors.js';
import { bakerUrlFor, parseBakerUrls } from '../../src/pipeline/baker-urls.js';
import { readConfigFile, resolveConfig } from '../../src/pipeline/config.js';
import { providerSettingsFor } from '../../src/pipeline/providers.js';
import { runRegionOf } from '../../src/pipeline/remote-bake.js';

const cli = { entry: 'cli' as const, projectDir: '/repo' };
const EU = 'https://bakery-eu.example.com';
const US = 'http://10.1.2.3:8780/bakery';

describe('parseBakerUrls', () => {
  it('takes one URL for every region', () => {
    expect(parseBakerUrls(' https://bakery.example.com ')).toEqual({ all: 'https://bakery.example.com' });
    expect(parseBakerUrls('http://127.0.0.1:8780\n')).toEqual({ all: 'http://127.0.0.1:8780' });
  });

  it('takes region=URL pairs separated by commas or newlines', () => {
    const expected = { byRegion: { 'eu-west-1': EU, 'us-east-1': US } };
    expect(parseBakerUrls(`eu-west-1=${EU},us-east-1=${US}`)).toEqual(expected);
    expect(parseBakerUrls(`eu-west-1 = ${EU}\n  us-east-1=${US}\n`)).toEqual(expected);
    expect(parseBakerUrls(`eu-west-1=${EU}`)).toEqual({ byRegion: { 'eu-west-1': EU } });
  });

  it('names what is wrong', () => {
    const bad: Array<[string, RegExp]> = [
      ['', /expected a URL or region=URL pairs/],
      ['bakery:8780', /"bakery:8780" is neither an http\(s\) URL nor region=URL/],
      [`${EU},${US}`, /has no region: with more than one bakery, give each as region=URL/],
      [`eu-west-1=${EU},${US}`, /"http:\/\/10.1.2.3:8780\/bakery" has no region/],
      [`EU=${EU}`, /"EU" in "EU=https:\/\/bakery-eu.example.com" is not a region name/],
      ['eu-west-1=bakery-eu:8780', /"bakery-eu:8780" \(region eu-west-1\) is not an http\(s\) URL/],
      [`eu-west-1=${EU},eu-west-1=${US}`, /region eu-west-1 is given twice/],
    ];
    for (const [text, message] of bad) expect(() => parseBakerUrls(text), text).toThrow(message);
  });
});

describe('bakerUrlFor', () => {
  it("picks the run's region's bakery, or the one bakery for all", () => {
    const pairs = parseBakerUrls(`eu-west-1=${EU},us-east-1=${US}`);
    expect(bakerUrlFor(pairs, 'us-east-1')).toBe(US);
    expect(bakerUrlFor(pairs, 'eu-west-1')).toBe(EU);
    expect(bakerUrlFor({ all: EU }, 'ap-south-1')).toBe(EU);
    expect(bakerUrlFor({ all: EU }, null)).toBe(EU);
  });

  it('is a config error when no bakery matches the run', () => {
    const pairs = parseBakerUrls(`eu-west-1=${EU},us-east-1=${US}`);
    expect(() => bakerUrlFor(pairs, 'ap-south-1')).toThrow(ConfigError);
    expect(() => bakerUrlFor(pairs, 'ap-south-1')).toThrow(
      "baker-url: no bakery for this run's region ap-south-1 (bakeries are given for eu-west-1, us-east-1); add ap-south-1=URL or run in one of those regions",
    );
    expect(() => bakerUrlFor(pairs, null)).toThrow(/names a bakery per region .* but this run has no region/);
  });
});

describe('baker-url in the config', () => {
  it('reads pairs from an Action input, --set and a YAML mapping alike', async () => {
    const input = resolveConfig(
      { inputs: { test: 't', 'baker-url': `eu-west-1=${EU}\nus-east-1=${US}\n`, 'baker-token': 'x' } },
      { entry: 'action', projectDir: '/repo' },
    );
    expect(input.bakerUrl).toEqual({ byRegion: { 'eu-west-1': EU, 'us-east-1': US } });
    const flag = resolveConfig({ flags: { test: 't', 'baker-url': `eu-west-1=${EU},us-east-1=${US}` } }, cli);
    expect(flag.bakerUrl).toEqual(input.bakerUrl);
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-baker-urls-'));
    await writeFile(
      join(dir, 'ovenproof.yml'),
      `test: t\nbaker-url:\n  eu-west-1: ${EU}\n  us-east-1: ${US}\n`,
    );
    const file = resolveConfig({ file: await readConfigFile(join(dir, 'ovenproof.yml')) }, cli);
    expect(file.bakerUrl).toEqual(input.bakerUrl);
    expect(() => resolveConfig({ flags: { test: 't', 'baker-url': `${EU},${US}` } }, cli)).toThrow(
      /baker-url.*has no region/,
    );
  });

  it("takes the run's region from the EC2 settings (region or AWS_REGION), else the region key", () => {
    const ec2 = resolveConfig({ flags: { test: 't', provider: 'ec2' } }, cli);
    const settings = providerSettingsFor(ec2, { AWS_REGION: 'us-east-1' });
    expect(runRegionOf(settings as unknown as Record<string, unknown>, ec2)).toBe('us-east-1');
    const pinned = resolveConfig({ flags: { test: 't', provider: 'ec2', region: 'eu-west-1' } }, cli);
    const pinnedSettings = providerSettingsFor(pinned, { AWS_REGION: 'us-east-1' });
    expect(runRegionOf(pinnedSettings as unknown as Record<string, unknown>, pinned)).toBe('eu-west-1');
    const local = resolveConfig({ flags: { test: 't' } }, cli);
    expect(
      runRegionOf(providerSettingsFor(local, {}) as unknown as Record<string, unknown>, local),
    ).toBeNull();
  });
});
