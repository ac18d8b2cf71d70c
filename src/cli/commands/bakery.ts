import { resolve } from 'node:path';
import type { CliCommand, CliIo } from '../command.js';
import { parseCommandArgs } from '../args.js';
import { createStderrLogger } from '../logger.js';
import { ConfigError, ExitCode } from '../../common/errors.js';
import { requireDuration } from '../../common/duration.js';
import {
  bakerExecutor,
  createToken,
  DynamoJobStore,
  GITHUB_ACTIONS_ISSUER,
  parseDynamoStoreUrl,
  startBakery,
} from '../../bakery/index.js';
import { ovenproofHome } from '../../common/host/home.js';
import { providerForName } from '../../pipeline/providers.js';
import { parsePeers, withPeers } from '../../bakery/peers.js';

/** `[REGION=]FILE` with FILE made absolute. */
function resolvePeerTokenPath(cwd: string, arg: string): string {
  const cut = arg.indexOf('=');
  return cut > 0 ? `${arg.slice(0, cut)}=${resolve(cwd, arg.slice(cut + 1))}` : resolve(cwd, arg);
}

const HELP = `Usage: ovenproof bakery serve [--listen HOST:PORT] [--provider local|ec2] [--region R] [--data-dir DIR]
                         [--token-file FILE] [--oidc-issuer URL] [--oidc-audience AUD]
                         [--allow-repo OWNER/NAME|OWNER/*]... [--max-concurrent N] [--max-queued N]
                         [--peer REGION=URL]... [--peer-token-file [REGION=]FILE]...
                         [--max-file-size BYTES] [--grace DURATION]
                         [--store dynamodb://TABLE?region=R] [--lease DURATION]
       ovenproof bakery init-store --store dynamodb://TABLE?region=R
       ovenproof bakery token create NAME --token-file FILE

serve: runs the bake service (HTTP API, dashboard at /). Every endpoint but /healthz needs a bearer
token: a static token from --token-file, or (with --oidc-audience) a GitHub Actions OIDC token of a
repository matching --allow-repo. Logs one JSON object per line on stdout. SIGTERM stops taking
bakes, lets running ones finish for --grace, then cancels and cleans them.

Options (serve):
  --listen HOST:PORT     address to listen on (default 127.0.0.1:8780; port 0 picks a free one)
  --provider P           local (default) or ec2
  --region R             region the bakery bakes in (ec2; with local it only names the bakery's region)
  --data-dir DIR         jobs database and uploaded files (default $OVENPROOF_HOME/bakery)
  --token-file FILE      static tokens: "sha256:<hex> NAME" lines (see token create)
  --oidc-issuer URL      OIDC issuer (default ${GITHUB_ACTIONS_ISSUER})
  --oidc-audience AUD    accept OIDC tokens for this audience (needs --allow-repo)
  --allow-repo PATTERN   repository allowed to bake with an OIDC token (repeatable; owner/* allowed)
  --peer REGION=URL      the bakery of another region: requests for REGION are forwarded there and
                         their events relayed (repeatable); without one, such requests get 400
  --peer-token-file [REGION=]FILE
                         file holding the token to present to the peer of REGION (a token from
                         \`bakery token create\` on that bakery); without REGION= it serves every peer
  --max-concurrent N     bakes run at once (default 2)
  --max-queued N         queued bakes before requests get 429 (default 100)
  --max-file-size SIZE   largest upload, e.g. 512m, 2g (default 1g)
  --grace DURATION       how long running bakes may finish on SIGTERM (default 5m)
  --store URL            job store: the SQLite file in --data-dir (default), or a DynamoDB table
                         shared by a fleet of bakeries: dynamodb://TABLE?region=R (the endpoint
                         may be set with AWS_ENDPOINT_URL_DYNAMODB)
  --lease DURATION       a running bake's lease: when its bakery misses heartbeats this long,
                         another bakery of the store takes it over (default 30s)

init-store: creates the DynamoDB table of --store (keys, indexes, time to live) or checks an
existing one.

token create: prints a new token once (store it as the baker-token secret) and appends only its
sha256 to the token file. A running bakery picks up the change.

Examples:
  ovenproof bakery token create ci --token-file /etc/ovenproof/bakery-tokens
  ovenproof bakery serve --listen 0.0.0.0:8780 --token-file /etc/ovenproof/bakery-tokens \\
    --oidc-audience ovenproof-bakery --allow-repo my-org/*
`;

function parseSize(text: string): number {
  const match = /^(\d+)([kmg]?)$/i.exec(text.trim());
  if (!match) throw new ConfigError(`--max-file-size: "${text}" is not a size (use e.g. 512m, 2g)`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[
    match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'
  ];
  return Number(match[1]) * unit;
}

function parseCount(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new ConfigError(`${name}: "${text}" is not a positive whole number`);
  return value;
}

function parseListen(text: string): { host: string; port: number } {
  const match = /^(.+):(\d+)$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65_535)
    throw new ConfigError(`--listen: "${text}" is not HOST:PORT (e.g. 127.0.0.1:8780)`);
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

async function serve(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('bakery serve', args, {
    listen: { type: 'string' },
    provider: { type: 'string' },
    region: { type: 'string' },
    'data-dir': { type: 'string' },
    'token-file': { type: 'string' },
    'oidc-issuer': { type: 'string' },
    'oidc-audience': { type: 'string' },
    'allow-repo': { type: 'string', multiple: true },
    peer: { type: 'string', multiple: true },
    'peer-token-file': { type: 'string', multiple: true },
    'max-concurrent': { type: 'string' },
    'max-queued': { type: 'string' },
    'max-file-size': { type: 'string' },
    grace: { type: 'string' },
    store: { type: 'string' },
    lease: { type: 'string' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return ExitCode.ok;
  }
  const allowRepos = values['allow-repo'] ?? [];
  for (const pattern of allowRepos) {
    if (!/^[A-Za-z0-9_.-]+\/(\*|[A-Za-z0-9_.-]+)$/.test(pattern))
      throw new ConfigError(`--allow-repo: "${pattern}" is not OWNER/NAME or OWNER/*`);
  }
  const audience = values['oidc-audience'];
  if (audience && allowRepos.length === 0)
    throw new ConfigError('--oidc-audience: also give --allow-repo for the repositories that may bake');
  if (!audience && allowRepos.length > 0)
    throw new ConfigError('--allow-repo: only applies to OIDC tokens; also give --oidc-audience');
  if (!audience && !values['token-file'])
    throw new ConfigError(
      'bakery serve: give --token-file and/or --oidc-audience (every bake needs a credential)',
    );
  const { host, port } = parseListen(values.listen ?? '127.0.0.1:8780');
  const home = ovenproofHome(io.env);
  const log = createStderrLogger(io.stderr);
  const provider = await providerForName(values.provider ?? 'local', io.env, log, values.region ?? null);
  // A local bakery bakes on this host whatever the region; --region only names its place in a fleet.
  const region =
    provider.name === 'ec2'
      ? (values.region ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION ?? null)
      : (values.region ?? null);
  const peers = await parsePeers(
    values.peer ?? [],
    (values['peer-token-file'] ?? []).map((arg) => resolvePeerTokenPath(io.cwd, arg)),
    region,
  );
  const bakery = await startBakery(
    {
      host,
      port,
      dataDir: resolve(io.cwd, values['data-dir'] ?? resolve(home, 'bakery')),
      tokenFile: values['token-file'] ? resolve(io.cwd, values['token-file']) : null,
      oidc: audience
        ? { issuer: values['oidc-issuer'] ?? GITHUB_ACTIONS_ISSUER, audience, allowRepos }
        : null,
      maxConcurrent: parseCount('--max-concurrent', values['max-concurrent'], 2),
      maxQueued: parseCount('--max-queued', values['max-queued'], 100),
      maxFileBytes: parseSize(values['max-file-size'] ?? '1g'),
      cacheTtlMs: 7 * 86_400_000,
      graceMs: requireDuration('--grace', values.grace ?? '5m'),
      statsWindowMs: 86_400_000,
      store: values.store
        ? { kind: 'dynamodb', location: parseDynamoStoreUrl(values.store) }
        : { kind: 'sqlite' },
      leaseMs: requireDuration('--lease', values.lease ?? '30s'),
    },
    withPeers(bakerExecutor(provider, { home, region }), peers),
  );
  await new Promise<void>((done) => {
    if (io.signal.aborted) done();
    else io.signal.addEventListener('abort', () => done(), { once: true });
  });
  await bakery.stop();
  return ExitCode.ok;
}

async function initStore(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('bakery init-store', args, { store: { type: 'string' } });
  if (values.help) {
    io.stdout.write(HELP);
    return ExitCode.ok;
  }
  if (!values.store)
    throw new ConfigError('bakery init-store: --store dynamodb://TABLE?region=R is required');
  const store = new DynamoJobStore(parseDynamoStoreUrl(values.store));
  try {
    const outcome = await store.createTable();
    io.stderr.write(
      `DynamoDB table ${store.location.table} ${outcome === 'created' ? 'created' : 'already exists and is complete'}\n`,
    );
  } finally {
    await store.close();
  }
  return ExitCode.ok;
}

async function tokenCreate(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'bakery token create',
    args,
    { 'token-file': { type: 'string' } },
    true,
  );
  if (values.help) {
    io.stdout.write(HELP);
    return ExitCode.ok;
  }
  const [name, ...extra] = positionals;
  if (!name || extra.length) throw new ConfigError('bakery token create: give exactly one NAME');
  if (!values['token-file']) throw new ConfigError('bakery token create: --token-file FILE is required');
  try {
    const token = await createToken(resolve(io.cwd, values['token-file']), name);
    io.stdout.write(`${token}\n`);
  } catch (error) {
    throw new ConfigError(`bakery token create: ${(error as Error).message}`);
  }
  io.stderr.write(
    `token "${name}" created; its hash is in ${values['token-file']}. It is shown only this once.\n`,
  );
  return ExitCode.ok;
}

export const bakeryCommand: CliCommand = {
  name: 'bakery',
  summary:
    'Run the bake service (bakery serve), create its DynamoDB job store (bakery init-store) and manage its tokens (bakery token create)',
  help: HELP,
  async run(args, io) {
    const [verb, ...rest] = args;
    if (verb === 'serve') return serve(rest, io);
    if (verb === 'init-store') return initStore(rest, io);
    if (verb === 'token' && rest[0] === 'create') return tokenCreate(rest.slice(1), io);
    if (verb === '--help' || verb === '-h' || verb === 'help') {
      io.stdout.write(HELP);
      return ExitCode.ok;
    }
    io.stderr.write(`ovenproof bakery: expected "serve", "init-store" or "token create"\n\n${HELP}`);
    return ExitCode.usageError;
  },
};
