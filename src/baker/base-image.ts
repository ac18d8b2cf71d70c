/**
 * Base selection: `base-image` is an id, a name, or `key=value` filters; when several images
 * match, prefer the one that already has most of the requested packages, then the leanest, then the
 * newest. Baked images record their package sets, so earlier bakes become candidates (layered bakes).
 */
import { ConfigError, PipelineError } from '../common/errors.js';
import { FAILURE_OF_TAG } from '../providers/failure-image.js';
import type { ImageManifest, Provider } from '../providers/provider.js';

interface Requested {
  name: string;
  /** Exact version when requested as `name=version`. */
  version: string | null;
}

/** `jq`, `jq=1.6-2.1`, `jq:amd64` → name and optional version. */
export function parsePackageSpec(spec: string): Requested {
  const [nameArch = '', version] = spec.trim().split('=', 2);
  const name = nameArch.split(':', 1)[0] ?? '';
  return { name, version: version === undefined || version === '' ? null : version };
}

function isInstalled(image: ImageManifest, wanted: Requested): boolean {
  const version = image.packages[wanted.name];
  if (version === undefined) return false;
  return wanted.version === null || wanted.version === version;
}

export function selectBaseImage(
  candidates: ImageManifest[],
  requestedPackages: string[],
): ImageManifest | null {
  const requested = requestedPackages.map(parsePackageSpec).filter((r) => r.name);
  const names = new Set(requested.map((r) => r.name));
  let best: { image: ImageManifest; installed: number; extras: number; created: number } | null = null;
  for (const image of candidates) {
    const installed = requested.filter((r) => isInstalled(image, r)).length;
    const extras = Object.keys(image.packages).filter((name) => !names.has(name)).length;
    const created = Date.parse(image.createdAt) || 0;
    const better =
      best === null ||
      installed > best.installed ||
      (installed === best.installed && extras < best.extras) ||
      (installed === best.installed && extras === best.extras && created > best.created);
    if (better) best = { image, installed, extras, created };
  }
  return best?.image ?? null;
}

export type BaseImageRef =
  { kind: 'id-or-name'; value: string } | { kind: 'filters'; filters: Record<string, string> };

/** Parses the `base-image` setting: `debian-12`, an image id, or `os=debian-12,arch=x86_64`. */
export function parseBaseImageRef(text: string): BaseImageRef {
  const trimmed = text.trim();
  if (!trimmed)
    throw new ConfigError('base-image: empty value (use an image id, a name, or key=value filters)');
  if (!trimmed.includes('=')) return { kind: 'id-or-name', value: trimmed };
  const filters: Record<string, string> = {};
  for (const part of trimmed.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (eq <= 0 || !value) {
      throw new ConfigError(`base-image: "${part.trim()}" in "${trimmed}" is not a key=value filter`);
    }
    filters[key] = value;
  }
  return { kind: 'filters', filters };
}

/** Finds the base image a bake starts from; `packages` are the names the bake will install. */
export async function resolveBaseImage(
  provider: Provider,
  baseImage: string,
  packages: string[],
): Promise<ImageManifest> {
  const ref = parseBaseImageRef(baseImage);
  let candidates: ImageManifest[];
  if (ref.kind === 'id-or-name') {
    const exact = await provider.describeImage(ref.value);
    if (exact) return exact;
    candidates = await provider.listImages({ idOrName: ref.value });
  } else {
    // A failure image is one failed run's disk, kept for `ovenproof reproduce`: never a base for bakes.
    candidates = (await provider.listImages({ filters: ref.filters })).filter(
      (image) => image.tags[FAILURE_OF_TAG] === undefined,
    );
  }
  const chosen = selectBaseImage(candidates, packages);
  if (chosen) return chosen;
  const hint =
    provider.name === 'local'
      ? ' (build one with `ovenproof base build`, list them with `ovenproof images --provider local`)'
      : ' (list them with `ovenproof images`)';
  throw new PipelineError('bake', `base-image "${baseImage}" matches no ${provider.name} image${hint}`);
}
