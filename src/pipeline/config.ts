/**
 * The one validated Config. The same kebab-case keys come from Action inputs, `--set`
 * flags and an optional `ovenproof.yml`; precedence is inputs > --set > file > defaults. Defaults are
 * applied here, after merging, because action.yml must not declare any (the runner would pass them as
 * if the user had set them and silently override ovenproof.yml).
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../common/errors.js';
import type { ProviderName } from '../providers/provider.js';
import { PROVIDER_NAMES, providerEntry } from '../providers/registry.js';
import { parseDuration } from '../common/duration.js';
import { parseBakerUrls, type BakerUrls } from './baker-urls.js';

export type Source = 'input' | 'flag' | 'file';
export type RawValue = string | number | boolean | null | RawValue[] | { [key: string]: RawValue };

/** Where a value came from, for error messages ("test (from --set)"). */
const SOURCE_LABEL: Record<Source, string> = { input: 'Action input', flag: '--set', file: 'ovenproof.yml' };

const STRATEGIES = ['auto', 'volume', 'instance'] as const;
const KEEP_IMAGE = ['always', 'on-success', 'never'] as const;
const KEEP_INSTANCE = ['never', 'on-failure'] as const;
const SNAPSHOT_ON_FAILURE = ['disk', 'never'] as const;
const WARM_BOOT = ['auto', 'never'] as const;

function asText(value: RawValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Lists accept YAML sequences, or strings separated by commas or newlines. */
function toList(value: unknown): unknown {
  if (Array.isArray(value))
    return value.map((v) => (typeof v === 'string' ? v.trim() : v)).filter((v) => v !== '');
  if (typeof value === 'string') {
    return value
      .split(/[\n,]/)
      .map((s) => s.trim())
      .filter(Boolean);
  }
  return value;
}

/** Path maps also accept a YAML mapping `{ /opt/app: . }`. */
function toPathMapList(value: unknown): unknown {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).map(([from, to]) => `${from}=${String(to)}`);
  }
  return toList(value);
}

function toBoolean(value: unknown): unknown {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (['true', 'yes', '1', 'on'].includes(v)) return true;
    if (['false', 'no', '0', 'off'].includes(v)) return false;
  }
  return value;
}

function toDuration(value: unknown): unknown {
  if (typeof value === 'number') return value * 1000;
  if (typeof value === 'string') return parseDuration(value) ?? value;
  return value;
}

function toText(value: unknown): unknown {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value === 'string' ? value.trim() : value;
}

const text = z.preprocess(toText, z.string().min(1, 'must not be empty'));
/** A URL, or region=URL pairs (text, a YAML list, or a YAML mapping of region to URL). */
function toBakerUrlText(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(String).join(',');
  if (value && typeof value === 'object')
    return Object.entries(value)
      .map(([region, url]) => `${region}=${String(url)}`)
      .join(',');
  return toText(value);
}
const bakerUrls = z.preprocess(
  toBakerUrlText,
  z.string().transform((value, ctx): BakerUrls => {
    try {
      return parseBakerUrls(value);
    } catch (error) {
      ctx.issues.push({ code: 'custom', message: (error as Error).message, input: value });
      return z.NEVER;
    }
  }),
);
const list = z.preprocess(toList, z.array(z.string().min(1)));
const bool = z.preprocess(toBoolean, z.boolean({ error: 'expected true or false' }));
const duration = z.preprocess(
  toDuration,
  z
    .number({ error: 'expected a duration such as 90s, 30m, 2h or 1h30m' })
    .positive('must be longer than zero'),
);
const choice = <T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess(toText, z.enum(values, { error: `expected one of: ${values.join(', ')}` }));
const pathMapEntry = z
  .string()
  .regex(/^[^=]+=[^=]*$/, 'expected instance-prefix=repo-prefix, e.g. /opt/app=.')
  .transform((pair) => {
    const [from, to] = pair.split('=') as [string, string];
    return { from: from.trim(), to: to.trim() || '.' };
  });

/** Every key, its schema, its default and its one-line meaning (action.yml and docs repeat these). */
export const CONFIG_KEYS = {
  provider: {
    schema: choice(PROVIDER_NAMES),
    doc: 'Where to bake and test: `ec2` or `local` (QEMU on the runner).',
  },
  build: { schema: text, doc: 'Shell command that builds the package in the checkout.' },
  package: { schema: list, doc: 'Glob(s) of package files to install (`.deb`).' },
  packages: { schema: list, doc: 'Extra OS packages to install from the distribution.' },
  'base-image': { schema: text, doc: 'Base image id, name, or `key=value` filters.' },
  'bake-strategy': { schema: choice(STRATEGIES), doc: 'How to bake: `auto`, `volume` or `instance`.' },
  'baker-url': {
    schema: bakerUrls,
    doc: "URL of a remote bakery to bake with instead of baking in-process, or `region=URL` pairs (comma- or newline-separated): the bakery of the run's region.",
  },
  'baker-token': {
    schema: text,
    doc: 'Bearer token for the remote bakery (from `ovenproof bakery token create`).',
  },
  'baker-audience': {
    schema: text,
    doc: 'With `baker-url` in GitHub Actions: authenticate to the bakery with an OIDC token for this audience (needs `permissions: id-token: write`).',
  },
  'instance-type': {
    schema: list,
    doc: 'EC2 instance type(s); a comma list is the fallback order on capacity errors.',
  },
  region: { schema: text, doc: 'AWS region.' },
  regions: { schema: list, doc: 'Extra AWS regions to copy a kept image to.' },
  'subnet-id': { schema: text, doc: 'EC2 subnet for the test instance.' },
  'security-group-id': {
    schema: text,
    doc: 'Existing security group; otherwise a temporary one is created.',
  },
  'ssh-cidr': { schema: text, doc: 'CIDR allowed to reach port 22 of the temporary security group.' },
  spot: { schema: bool, doc: 'Run the test instance on spot capacity (ec2).' },
  'ssh-user': { schema: text, doc: 'Login user on the instance.' },
  test: { schema: text, doc: 'Command run on the instance (required).' },
  results: { schema: list, doc: 'Result file path(s) or globs on the instance (JUnit XML, TAP).' },
  'path-map': {
    schema: z.preprocess(toPathMapList, z.array(pathMapEntry)),
    doc: '`instance-prefix=repo-prefix` pairs that map result paths to repository files.',
  },
  'results-strict': {
    schema: bool,
    doc: 'Fail a result file whose structure does not prove its tests ran (TAP plan, test numbers, closed blocks); `false` relaxes these checks.',
  },
  'test-timeout': { schema: duration, doc: 'Limit for the test command.' },
  'ssh-timeout': {
    schema: duration,
    doc: 'How long a test instance or bake builder may take to answer SSH after it runs.',
  },
  ttl: { schema: duration, doc: 'Dead-man switch: every instance powers itself off after this long.' },
  'keep-image': { schema: choice(KEEP_IMAGE), doc: 'Keep the image: `always`, `on-success` or `never`.' },
  'cache-ttl': {
    schema: duration,
    doc: 'How long an unpromoted cached bake lives after its last use.',
  },
  cache: {
    schema: bool,
    doc: 'Persist the base and bake-cache images with the Actions cache (local provider in Actions).',
  },
  'keep-instance': {
    schema: choice(KEEP_INSTANCE),
    doc: 'Keep the test instance: `never` or `on-failure` (bounded by ttl).',
  },
  'snapshot-on-failure': {
    schema: choice(SNAPSHOT_ON_FAILURE),
    doc: "When tests fail: `disk` captures the test instance's disk as an image for `ovenproof reproduce`, `never` does not.",
  },
  'failure-snapshot-ttl': {
    schema: duration,
    doc: 'How long a failure image is kept before sweep deletes it.',
  },
  'warm-boot': {
    schema: choice(WARM_BOOT),
    doc: 'Local provider: restore a pre-booted snapshot of the image (`auto`) or always boot cold (`never`).',
  },
  'github-token': { schema: text, doc: 'Token for check runs.' },
  'check-name': { schema: text, doc: 'Check run name.' },
  'publish-result': {
    schema: text,
    doc: 'Only publish this result JSON as a check run (fork-safe workflow_run pattern).',
  },
} as const;

export type ConfigKey = keyof typeof CONFIG_KEYS;
export const CONFIG_KEY_NAMES = Object.keys(CONFIG_KEYS) as ConfigKey[];

export interface Config {
  provider: ProviderName;
  build: string | null;
  package: string[];
  packages: string[];
  baseImage: string;
  bakeStrategy: 'auto' | 'volume' | 'instance';
  /** One bakery, or one per region (`bakerUrlFor` picks the run's). */
  bakerUrl: BakerUrls | null;
  bakerToken: string | null;
  bakerAudience: string | null;
  instanceType: string[];
  region: string | null;
  regions: string[];
  subnetId: string | null;
  securityGroupId: string | null;
  sshCidr: string | null;
  spot: boolean;
  sshUser: string;
  test: string | null;
  results: string[];
  pathMap: Array<{ from: string; to: string }>;
  resultsStrict: boolean;
  testTimeoutMs: number;
  /** How long to wait for SSH on a test instance or bake builder (default 5 minutes). */
  sshTimeoutMs: number;
  ttlMs: number;
  keepImage: 'always' | 'on-success' | 'never';
  /** Lifetime of an unpromoted bake-cache image after its last use. */
  cacheTtlMs: number;
  /** Restore and save local images with the Actions cache (meaningful in Actions only). */
  cache: boolean;
  keepInstance: 'never' | 'on-failure';
  snapshotOnFailure: 'disk' | 'never';
  failureSnapshotTtlMs: number;
  warmBoot: 'auto' | 'never';
  githubToken: string | null;
  checkName: string;
  publishResult: string | null;
  /** Directory the build runs in and `package` globs are relative to (the config file's, else cwd). */
  projectDir: string;
}

/** Defaults that depend on where ovenproof runs (`ec2` in Actions, `local` in the CLI). */
export interface ConfigContext {
  entry: 'action' | 'cli';
  projectDir: string;
  /** Keys that must be set for this command (e.g. `test` for `run`). */
  required?: ConfigKey[];
}

export interface ConfigSources {
  inputs?: Record<string, string | undefined>;
  flags?: Record<string, string>;
  file?: { path: string; values: Record<string, RawValue> };
}

/** Reads and parses ovenproof.yml; unknown keys are errors with a did-you-mean. */
export async function readConfigFile(
  path: string,
): Promise<{ path: string; values: Record<string, RawValue> }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`${path} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || parsed === undefined) return { path, values: {} };
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`${path} must be a mapping of keys to values, e.g. "test: make check"`);
  }
  for (const key of Object.keys(parsed)) assertKnownKey(key, path);
  return { path, values: parsed as Record<string, RawValue> };
}

export function assertKnownKey(key: string, where: string): asserts key is ConfigKey {
  if (key in CONFIG_KEYS) return;
  const suggestion = closestKey(key);
  throw new ConfigError(
    `${where}: unknown key "${key}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}; known keys: ${CONFIG_KEY_NAMES.join(', ')}`,
  );
}

/** Parses repeated `--set key=value` flags. */
export function parseSetFlags(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set ${pair}: expected key=value, e.g. --set test="make check"`);
    const key = pair.slice(0, eq).trim();
    assertKnownKey(key, '--set');
    out[key] = pair.slice(eq + 1);
  }
  return out;
}

export function resolveConfig(sources: ConfigSources, context: ConfigContext): Config {
  // Merge lowest precedence first; an empty Action input or --set value means "unset", except that
  // an explicitly empty required key is reported as empty rather than as missing.
  const merged = new Map<ConfigKey, { value: RawValue; source: Source }>();
  for (const [key, value] of Object.entries(sources.file?.values ?? {})) {
    assertKnownKey(key, sources.file!.path);
    if (value !== null) merged.set(key, { value, source: 'file' });
  }
  const explicitlyEmpty = new Map<ConfigKey, Source>();
  const layer = (values: Record<string, string | undefined> | undefined, source: Source) => {
    for (const [key, value] of Object.entries(values ?? {})) {
      assertKnownKey(key, SOURCE_LABEL[source]);
      if (value === undefined) continue;
      if (value.trim() === '') {
        if (source === 'flag') explicitlyEmpty.set(key, source);
        continue;
      }
      merged.set(key, { value, source });
      explicitlyEmpty.delete(key);
    }
  };
  layer(sources.flags, 'flag');
  layer(sources.inputs, 'input');

  const values: Partial<Record<ConfigKey, unknown>> = {};
  for (const [key, { value, source }] of merged) {
    const result = CONFIG_KEYS[key].schema.safeParse(value);
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue && issue.path.length > 0 ? ` (item ${issue.path.join('.')})` : '';
      throw new ConfigError(
        `${key}: invalid value "${asText(value)}" from ${SOURCE_LABEL[source]}${where}: ${issue?.message ?? 'invalid'}`,
      );
    }
    values[key] = result.data;
  }
  for (const key of context.required ?? []) {
    if (values[key] === undefined) {
      const empty = explicitlyEmpty.get(key);
      throw new ConfigError(
        empty
          ? `${key}: must not be empty (${SOURCE_LABEL[empty]} set it to ""); ${CONFIG_KEYS[key].doc}`
          : `${key}: is required; ${CONFIG_KEYS[key].doc} Set it in ovenproof.yml, with --set ${key}=…, or as the Action input "${key}".`,
      );
    }
  }

  const get = <T>(key: ConfigKey, fallback: T): T =>
    values[key] === undefined ? fallback : (values[key] as T);
  const provider = get<Config['provider']>('provider', context.entry === 'action' ? 'ec2' : 'local');
  const defaults = providerEntry(provider).defaults;
  const config: Config = {
    provider,
    build: get('build', null),
    package: get('package', []),
    packages: get('packages', []),
    baseImage: get('base-image', defaults.baseImage),
    bakeStrategy: get('bake-strategy', 'auto'),
    bakerUrl: get('baker-url', null),
    bakerToken: get('baker-token', null),
    bakerAudience: get('baker-audience', null),
    instanceType: get('instance-type', ['t3.small']),
    region: get('region', null),
    regions: get('regions', []),
    subnetId: get('subnet-id', null),
    securityGroupId: get('security-group-id', null),
    sshCidr: get('ssh-cidr', null),
    spot: get('spot', false),
    sshUser: get('ssh-user', defaults.sshUser),
    test: get('test', null),
    results: get('results', []),
    pathMap: get('path-map', []),
    resultsStrict: get('results-strict', true),
    testTimeoutMs: get('test-timeout', 30 * 60_000),
    sshTimeoutMs: get('ssh-timeout', 5 * 60_000),
    ttlMs: get('ttl', 60 * 60_000),
    keepImage: get('keep-image', 'on-success'),
    cacheTtlMs: get('cache-ttl', 7 * 86_400_000),
    cache: get('cache', context.entry === 'action' && provider === 'local'),
    keepInstance: get('keep-instance', 'never'),
    snapshotOnFailure: get('snapshot-on-failure', 'disk'),
    failureSnapshotTtlMs: get('failure-snapshot-ttl', 3 * 86_400_000),
    warmBoot: get('warm-boot', 'auto'),
    githubToken: get('github-token', null),
    checkName: get('check-name', 'ovenproof'),
    publishResult: get('publish-result', null),
    projectDir: context.projectDir,
  };
  if ((config.bakerToken || config.bakerAudience) && !config.bakerUrl) {
    throw new ConfigError(
      `${config.bakerToken ? 'baker-token' : 'baker-audience'}: only used with baker-url (the bakery to bake with); set baker-url or remove it`,
    );
  }
  return config;
}

/** Levenshtein distance: enough to suggest `test` for `tset` or `ttl` for `tll`. */
function closestKey(input: string): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const key of CONFIG_KEY_NAMES) {
    const d = editDistance(input.toLowerCase(), key);
    if (d < bestDistance) {
      bestDistance = d;
      best = key;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(input.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost));
    }
    previous = current;
  }
  return previous[b.length]!;
}
