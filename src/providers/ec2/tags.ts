/**
 * Tags ovenproof puts on EC2 resources, and the encoding of an image manifest into tags.
 *
 * EC2 allows 50 tags per resource, keys up to 128 and values up to 256 characters. An installed
 * package set (hundreds of `name=version` pairs) does not fit one value, so it is sorted, Brotli
 * compressed, base64 encoded (characters every AWS service accepts in tag values) and split over
 * numbered tags `ovenproof:pkgs:00`, `ovenproof:pkgs:01`, … with a SHA-256 to detect a partial set.
 * If even that exceeds the tag budget, the versions are dropped (names still drive base selection).
 */
import { brotliCompressSync, brotliDecompressSync, constants as zlib } from 'node:zlib';
import { createHash } from 'node:crypto';
import type { Tag, TagSpecification, ResourceType } from '@aws-sdk/client-ec2';
import type { Architecture, ImageManifest, RunContext } from '../provider.js';

export const TAG = {
  runId: 'ovenproof:run-id',
  expiresAt: 'ovenproof:expires-at',
  createdAt: 'ovenproof:created-at',
  kept: 'ovenproof:kept',
  /** The ledger key of the resource: finds it after a crash between the create call and its answer. */
  key: 'ovenproof:key',
  purpose: 'ovenproof:purpose',
  os: 'ovenproof:os',
  parent: 'ovenproof:parent',
  bakeKey: 'ovenproof:bake-key',
  pkgsFormat: 'ovenproof:pkgs-format',
  pkgsCount: 'ovenproof:pkgs-count',
  pkgsSha: 'ovenproof:pkgs-sha256',
  pkgsChunk: 'ovenproof:pkgs:',
} as const;

const MAX_TAGS = 50;
const MAX_VALUE = 256;
/** Tags always left free for later additions (tested, kept, Name edits by users). */
const SPARE_TAGS = 4;

export function toTagList(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

export function fromTagList(tags: Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) out[tag.Key] = tag.Value ?? '';
  return out;
}

/** ISO 8601 UTC without milliseconds, e.g. 2026-11-22T14:00:00Z. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The tags every resource of a run carries: run id, expiry, creation time, ledger key, repo/commit. */
export function runTags(
  ctx: RunContext,
  key: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.tags)) tags[k] = truncate(v);
  Object.assign(tags, extra);
  tags[TAG.runId] = truncate(ctx.runId);
  tags[TAG.expiresAt] = isoSeconds(ctx.expiresAt);
  tags[TAG.createdAt] = isoSeconds(new Date());
  tags[TAG.key] = truncate(key);
  return tags;
}

export function tagSpecs(types: ResourceType[], tags: Record<string, string>): TagSpecification[] {
  const list = toTagList(tags);
  return types.map((ResourceType) => ({ ResourceType, Tags: list }));
}

function truncate(value: string): string {
  return value.length <= MAX_VALUE ? value : value.slice(0, MAX_VALUE);
}

/** Tags describing an image manifest; `budget` is how many tags the caller may still use. */
export function manifestTags(
  manifest: Omit<ImageManifest, 'id' | 'createdAt'>,
  otherTagCount: number,
): Record<string, string> {
  const tags: Record<string, string> = { Name: truncate(manifest.name), [TAG.os]: manifest.os };
  if (manifest.parent) tags[TAG.parent] = manifest.parent;
  if (manifest.bakeKey) tags[TAG.bakeKey] = manifest.bakeKey;
  for (const [k, v] of Object.entries(manifest.tags)) tags[k] = truncate(v);
  const fixed = Object.keys(tags).length + otherTagCount + 3; // + format, count, sha
  const budget = MAX_TAGS - SPARE_TAGS - fixed;
  Object.assign(tags, encodePackages(manifest.packages, budget));
  return tags;
}

export function encodePackages(packages: Record<string, string>, budget: number): Record<string, string> {
  const names = Object.keys(packages).sort();
  const full = names.map((n) => `${n}=${packages[n]}`).join('\n');
  for (const [format, text] of [
    ['br64-v1', full],
    ['names-br64-v1', names.join('\n')],
  ] as const) {
    const compressed = brotliCompressSync(Buffer.from(text), {
      params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: text.length },
    }).toString('base64');
    const chunks = compressed.match(/.{1,256}/g) ?? [];
    if (chunks.length > budget) continue;
    const tags: Record<string, string> = {
      [TAG.pkgsFormat]: format,
      [TAG.pkgsCount]: String(names.length),
      [TAG.pkgsSha]: createHash('sha256').update(text).digest('hex'),
    };
    chunks.forEach((chunk, i) => (tags[`${TAG.pkgsChunk}${String(i).padStart(2, '0')}`] = chunk));
    return tags;
  }
  throw new Error(
    `the installed package set (${names.length} packages) does not fit in EC2's 50 tags even without versions`,
  );
}

/** Decodes the package set; {} when the image has none (a foreign base image) or it is damaged. */
export function decodePackages(tags: Record<string, string>): Record<string, string> {
  const format = tags[TAG.pkgsFormat];
  if (format !== 'br64-v1' && format !== 'names-br64-v1') return {};
  const chunks = Object.keys(tags)
    .filter((k) => k.startsWith(TAG.pkgsChunk))
    .sort()
    .map((k) => tags[k]);
  let text: string;
  try {
    text = brotliDecompressSync(Buffer.from(chunks.join(''), 'base64')).toString('utf8');
  } catch {
    return {};
  }
  if (createHash('sha256').update(text).digest('hex') !== tags[TAG.pkgsSha]) return {};
  const out: Record<string, string> = {};
  for (const line of text ? text.split('\n') : []) {
    const eq = line.indexOf('=');
    if (format === 'names-br64-v1' || eq < 0) out[line] = '';
    else out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** Tags that are ovenproof bookkeeping rather than free-form manifest tags. */
function isInternalTag(key: string): boolean {
  return (
    key === 'Name' ||
    key.startsWith(TAG.pkgsChunk) ||
    ([TAG.os, TAG.parent, TAG.bakeKey, TAG.pkgsFormat, TAG.pkgsCount, TAG.pkgsSha] as string[]).includes(key)
  );
}

export function manifestFromImage(image: {
  ImageId?: string;
  Name?: string;
  Architecture?: string;
  CreationDate?: string;
  Tags?: Tag[];
}): ImageManifest {
  const tags = fromTagList(image.Tags);
  const free: Record<string, string> = {};
  for (const [k, v] of Object.entries(tags)) if (!isInternalTag(k)) free[k] = v;
  const name = image.Name ?? tags.Name ?? image.ImageId ?? '';
  return {
    id: image.ImageId ?? '',
    name,
    os: tags[TAG.os] ?? guessOs(name),
    arch: (image.Architecture === 'arm64' ? 'arm64' : 'x86_64') as Architecture,
    parent: tags[TAG.parent] ?? null,
    createdAt: image.CreationDate ?? '',
    packages: decodePackages(tags),
    bakeKey: tags[TAG.bakeKey] ?? null,
    tags: free,
  };
}

/** `debian-12-amd64-20240717-1811` → `debian-12`; unknown names keep their first word. */
function guessOs(name: string): string {
  const m = /^(debian-\d+|ubuntu[-/].*?\d\d\.\d\d|al2023|amzn2)/i.exec(name.replace(/^.*\//, ''));
  return m ? m[1]!.toLowerCase() : (name.split(/[-_ ]/)[0] ?? '').toLowerCase();
}
