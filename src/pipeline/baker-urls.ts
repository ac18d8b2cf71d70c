/**
 * `baker-url`: one bakery for every run (`https://bakery.example.com`), or one per region
 * (`eu-west-1=https://bakery-eu.example.com, us-east-1=https://bakery-us.example.com`, separated by
 * commas or newlines, or a YAML mapping in ovenproof.yml). A run uses the bakery of its own region: an
 * EBS volume only attaches in its region, and an image is launched where it was baked.
 */
import { ConfigError } from '../common/errors.js';

export type BakerUrls = { all: string } | { byRegion: Record<string, string> };

const URL_PATTERN = /^https?:\/\/[^\s/=,]+(\/[^\s,]*)?$/i;
const REGION_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const EXAMPLE = 'https://bakery.example.com, or eu-west-1=https://bakery-eu.example.com,us-east-1=https://…';

/** Parses the setting; the error message says what is wrong (the config layer adds the key). */
export function parseBakerUrls(text: string): BakerUrls {
  const items = text
    .split(/[\n,]/)
    .map((item) => item.trim())
    .filter(Boolean);
  if (items.length === 0) throw new Error(`expected a URL or region=URL pairs, such as ${EXAMPLE}`);
  if (items.length === 1 && URL_PATTERN.test(items[0]!)) return { all: items[0]! };
  const byRegion: Record<string, string> = {};
  for (const item of items) {
    const cut = item.indexOf('=');
    if (cut <= 0) {
      throw new Error(
        URL_PATTERN.test(item)
          ? `"${item}" has no region: with more than one bakery, give each as region=URL`
          : `"${item}" is neither an http(s) URL nor region=URL (expected ${EXAMPLE})`,
      );
    }
    const region = item.slice(0, cut).trim();
    const url = item.slice(cut + 1).trim();
    if (!REGION_PATTERN.test(region))
      throw new Error(`"${region}" in "${item}" is not a region name such as eu-west-1`);
    if (!URL_PATTERN.test(url)) throw new Error(`"${url}" (region ${region}) is not an http(s) URL`);
    if (byRegion[region]) throw new Error(`region ${region} is given twice`);
    byRegion[region] = url;
  }
  return { byRegion };
}

/** The bakery for a run in `region`; with per-region bakeries, a run in none of them is a config error. */
export function bakerUrlFor(urls: BakerUrls, region: string | null): string {
  if ('all' in urls) return urls.all;
  const regions = Object.keys(urls.byRegion);
  if (!region)
    throw new ConfigError(
      `baker-url: names a bakery per region (${regions.join(', ')}), but this run has no region; set region (or AWS_REGION)`,
    );
  const url = urls.byRegion[region];
  if (!url)
    throw new ConfigError(
      `baker-url: no bakery for this run's region ${region} (bakeries are given for ${regions.join(', ')}); add ${region}=URL or run in one of those regions`,
    );
  return url;
}
