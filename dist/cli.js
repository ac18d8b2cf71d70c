#!/usr/bin/env node
import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); var __filename = __opFileURLToPath(import.meta.url); var __dirname = __opDirname(__filename);
import {
  ConsoleReporter,
  DEFAULT_API_URL,
  DynamoJobStore,
  EXPIRES_TAG,
  GITHUB_ACTIONS_ISSUER,
  KEPT_TAG,
  OpenSshSession,
  PipelineEvents,
  abortOnSignals,
  activeLeases,
  bakerExecutor,
  costLine,
  createToken,
  executePipeline,
  findRepoRoot,
  headShaFromEnv,
  isoSeconds,
  lastUsedAt,
  oneLine,
  opensshCommand,
  parseDynamoStoreUrl,
  parsePathMap,
  parsePeers,
  parseResultFiles,
  publishResult,
  readRunResult,
  removeWorkDirIfClean,
  renderJobSummary,
  startBakery,
  summarizeResults,
  waitForSsh,
  withPeers,
  withReproduction,
  workflowFileFromEnv,
  writeResultJson
} from "./chunks/chunk-PGWOHWM7.js";
import {
  Ledger,
  cleanupLedger,
  createProvider,
  parseSetFlags,
  providerEntry,
  providerForName,
  providerSettingsFor,
  readConfigFile,
  resolveConfig
} from "./chunks/chunk-Y7RYAHEK.js";
import "./chunks/chunk-DYG4SIRO.js";
import {
  formatDuration,
  requireDuration
} from "./chunks/chunk-X3PL5BMF.js";
import "./chunks/chunk-335GSUFP.js";
import {
  createLocalProvider
} from "./chunks/chunk-OOFDLYCT.js";
import {
  parseImageQuery
} from "./chunks/chunk-MVO3AHNY.js";
import {
  ovenproofHome
} from "./chunks/chunk-XKDOAQPN.js";
import "./chunks/chunk-FIUEXO6L.js";
import {
  CancelledError,
  ConfigError,
  ExitCode,
  errorMessage,
  exitCodeOf,
  secretLines
} from "./chunks/chunk-PCLL46HG.js";
import "./chunks/chunk-DFPXC7JI.js";

// src/cli/main.ts
import { readFileSync } from "node:fs";

// src/cli/commands/run.ts
import { resolve as resolve2 } from "node:path";
import { writeFile } from "node:fs/promises";

// src/cli/config-loader.ts
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
async function loadCliConfig(flags, cwd, required) {
  const explicit = flags.config ? resolve(cwd, flags.config) : null;
  const implicit = resolve(cwd, "ovenproof.yml");
  const path = explicit ?? (existsSync(implicit) ? implicit : null);
  const file = path ? await readConfigFile(path) : void 0;
  const sets = parseSetFlags(flags.set ?? []);
  if (flags.provider !== void 0) sets.provider = flags.provider;
  return resolveConfig(
    { file, flags: sets },
    { entry: "cli", projectDir: path ? dirname(path) : cwd, required }
  );
}
var CONFIG_OPTIONS = {
  config: { type: "string" },
  provider: { type: "string" },
  set: { type: "string", multiple: true }
};

// src/cli/args.ts
import { parseArgs } from "node:util";
function parseCommandArgs(command, args, options, allowPositionals = false) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals,
      strict: true
    });
  } catch (error) {
    throw new ConfigError(`${command}: ${error.message} (see ovenproof ${command} --help)`);
  }
}

// src/cli/logger.ts
function createStderrLogger(stderr, options = {}) {
  const secrets = /* @__PURE__ */ new Set();
  const scrub = (text) => {
    let out = text;
    for (const secret of secrets) out = out.split(secret).join("***");
    return out;
  };
  const write = (prefix, message) => stderr.write(`${prefix}${scrub(message)}
`);
  return {
    info: (message) => write("", message),
    warn: (message) => write("warning: ", message),
    debug: (message) => {
      if (options.verbose) write("debug: ", message);
    },
    mask: (secret) => {
      for (const line of secretLines(secret)) secrets.add(line);
    }
  };
}

// src/cli/final-report.ts
function formatFinalReport(result) {
  const lines = [];
  const t = result.tests;
  const verdict = result.status === "passed" ? "PASSED" : result.status === "failed" ? "FAILED" : `ERROR in ${result.error?.stage}`;
  lines.push(
    `ovenproof: ${verdict}: ${t.total} tests, ${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`
  );
  if (result.error) lines.push(`  error: ${oneLine(result.error.message)}`);
  if (t.failures.length > 0) {
    lines.push("  failing tests:");
    for (const f of t.failures) {
      const where = f.file ? `${f.file}${f.line ? `:${f.line}` : ""}` : "(no location)";
      lines.push(`    ${where}  ${oneLine(f.suite ? `${f.suite} \u203A ${f.name}` : f.name)}`);
      if (f.message) lines.push(`      ${oneLine(f.message).slice(0, 300)}`);
    }
  }
  if (result.image) {
    lines.push(
      `  image: ${result.image.id}${result.image.cacheHit ? ` (bake cache hit${result.image.reusedFromRun ? `, reused from run ${result.image.reusedFromRun}` : ""})` : ""}${result.image.promoted ? ", promoted" : result.image.expiresAt ? `, cached until ${result.image.expiresAt}` : ", not kept"}`
    );
  }
  if (result.instance) lines.push(`  instance: ${result.instance.id} (${result.instance.address})`);
  if (result.failureImage) {
    lines.push(
      `  failure image: ${result.failureImage.id} (until ${result.failureImage.expiresAt}); boot it again with: ovenproof reproduce --result-json RESULT.json`
    );
  }
  if (result.cost) lines.push(`  cost: ${oneLine(costLine(result.cost))}`);
  lines.push("  stages:");
  for (const s of result.stages) {
    lines.push(
      `    ${s.name.padEnd(9)} ${s.status.padEnd(8)} ${s.status === "skipped" ? "" : formatDuration(s.durationMs)}`.trimEnd()
    );
    for (const step of s.steps ?? []) {
      lines.push(`      ${oneLine(step.name).slice(0, 60).padEnd(24)} ${formatDuration(step.durationMs)}`);
    }
  }
  return `${lines.join("\n")}
`;
}

// src/cli/commands/run.ts
function consoleEvents(io) {
  const events = new PipelineEvents();
  const tty = Boolean(io.stderr.isTTY);
  const reporter = new ConsoleReporter(io.stderr, { tty });
  events.subscribe((event) => reporter.onEvent(event));
  return events;
}
var runCommand = {
  name: "run",
  summary: "Build, bake, launch, test over SSH, report and tear down (the whole pipeline)",
  help: `Usage: ovenproof run [--config FILE] [--provider P] [--set key=value]... [--result-json FILE] [--summary FILE]

Runs the whole pipeline: build the package, bake an image with it (or reuse an identical earlier
bake), launch a test instance, run the test command over SSH, report failing tests, and terminate
the instance. Keys come from --set, then the config file (default ./ovenproof.yml), then defaults;
see docs/configuration.md.

Options:
  --config FILE       config file (default: ovenproof.yml in the current directory, if present);
                      build runs, and package globs resolve, in its directory
  --provider P        local (default) or ec2
  --set key=value     set any config key (repeatable), e.g. --set test="make check"
  --result-json FILE  write the result JSON (see docs/reporting.md) to FILE
  --summary FILE      write the job summary (Markdown, as shown on GitHub) to FILE
  --verbose           debug output

Exit codes: 0 tests passed, 1 tests failed, 2 pipeline error, 3 usage or config error.

Examples:
  ovenproof run --config examples/hello-deb/ovenproof.yml --result-json result.json
  ovenproof run --set build="make deb" --set package=build/*.deb --set test=/usr/share/app/run-tests
`,
  async run(args, io) {
    const { values } = parseCommandArgs("run", args, {
      ...CONFIG_OPTIONS,
      "result-json": { type: "string" },
      summary: { type: "string" },
      verbose: { type: "boolean" }
    });
    if (values.help) {
      io.stdout.write(this.help);
      return ExitCode.ok;
    }
    const config = await loadCliConfig(values, io.cwd, ["test"]);
    const log = createStderrLogger(io.stderr, { verbose: values.verbose });
    const outcome = await executePipeline({
      config,
      mode: "run",
      events: consoleEvents(io),
      log,
      signal: io.signal,
      env: io.env
    });
    const { result } = outcome;
    io.stderr.write(formatFinalReport(result));
    if (values["result-json"]) {
      const path = resolve2(io.cwd, values["result-json"]);
      await writeResultJson(path, result);
      log.info(`result JSON: ${path}`);
    }
    if (values.summary) {
      const path = resolve2(io.cwd, values.summary);
      const markdown = renderJobSummary(result, {
        serverUrl: io.env.GITHUB_SERVER_URL ?? "https://github.com",
        repository: io.env.GITHUB_REPOSITORY ?? "local/repository",
        sha: result.commit
      });
      await writeFile(path, markdown);
      log.info(`job summary: ${path}`);
    }
    await removeWorkDirIfClean(outcome);
    return outcome.exitCode;
  }
};
var bakeCommand = {
  name: "bake",
  summary: "Build the package and bake an image with it (or reuse an identical bake)",
  help: `Usage: ovenproof bake [--config FILE] [--provider P] [--set key=value]... [--json]

Builds the package and bakes an image containing it and the requested OS packages, reusing an
earlier image with the same bake key when there is one. The image is promoted (kept). With --json,
prints the image object (id, baseImageId, bakeKey, cacheHit, reusedFromRun, kept, promoted,
expiresAt) plus durationsMs per bake step on stdout.

Options:
  --config FILE     config file (default: ./ovenproof.yml if present)
  --provider P      local (default) or ec2
  --set key=value   set any config key (repeatable)
  --json            print the result as JSON on stdout
  --verbose         debug output

Examples:
  ovenproof bake --set package=build/app.deb --set packages=jq --json
  ovenproof bake --config examples/hello-deb/ovenproof.yml --set bake-strategy=instance
`,
  async run(args, io) {
    const { values } = parseCommandArgs("bake", args, {
      ...CONFIG_OPTIONS,
      json: { type: "boolean" },
      verbose: { type: "boolean" }
    });
    if (values.help) {
      io.stdout.write(this.help);
      return ExitCode.ok;
    }
    const config = await loadCliConfig(values, io.cwd, []);
    const log = createStderrLogger(io.stderr, { verbose: values.verbose });
    const outcome = await executePipeline({
      config,
      mode: "bake",
      events: consoleEvents(io),
      log,
      signal: io.signal,
      env: io.env
    });
    const { result } = outcome;
    if (values.json && result.image) {
      io.stdout.write(
        `${JSON.stringify({ ...result.image, durationsMs: outcome.bake?.durationsMs ?? {} }, null, 2)}
`
      );
    }
    await removeWorkDirIfClean(outcome);
    if (result.error) {
      io.stderr.write(`ovenproof: bake failed in ${result.error.stage}: ${result.error.message}
`);
      return outcome.exitCode;
    }
    if (!values.json && result.image) {
      io.stderr.write(`image: ${result.image.id}${result.image.cacheHit ? " (bake cache hit)" : ""}
`);
    }
    return ExitCode.ok;
  }
};

// src/cli/commands/sweep.ts
var sweepCommand = {
  name: "sweep",
  summary: "Delete leftover resources: past their expiry tag, or still live in a ledger",
  help: `Usage: ovenproof sweep [--provider P] [--region R]... [--older-than 2h] [--dry-run] [--json]
       ovenproof sweep --ledger FILE [--kept] [--dry-run] [--json]

Deletes resources that ovenproof tagged and whose ovenproof:expires-at time has passed, in
dependency order (instances before security groups, images before snapshots). Untagged resources
and kept images (ovenproof:kept=true) are never touched. Locally it also removes orphaned QEMU
processes, loop devices, mounts and temporary files of ovenproof's work directory.

With --ledger, deletes whatever that run's ledger still shows as live (what the Action's post step
does after a killed run).

Options:
  --provider P      local or ec2 (default: local)
  --region R        ec2 region to sweep (repeatable; default: AWS_REGION)
  --older-than D    only resources created more than D ago (e.g. 2h), in addition to an expired tag
  --ledger FILE     clean up one run's ledger instead of sweeping by tags
  --kept            with --ledger: also delete what the run kept on purpose (a kept image, an
                    instance kept for debugging with keep-instance: on-failure)
  --dry-run         list what would be deleted, delete nothing
  --json            print every resource tried as JSON on stdout, each with "deleted" and, when
                    it could not be deleted, the "error" saying why

Every candidate is tried even when some cannot be deleted; the exit code is 2 once all were tried
and any failed.

Examples:
  ovenproof sweep --provider local --dry-run
  ovenproof sweep --provider ec2 --region eu-west-1 --region us-east-1 --older-than 2h
  ovenproof sweep --ledger "$RUNNER_TEMP"/ovenproof-*/ledger.json
`,
  async run(args, io) {
    const { values } = parseCommandArgs("sweep", args, {
      provider: { type: "string" },
      region: { type: "string", multiple: true },
      "older-than": { type: "string" },
      ledger: { type: "string" },
      kept: { type: "boolean" },
      "dry-run": { type: "boolean" },
      json: { type: "boolean" }
    });
    if (values.help) {
      io.stdout.write(this.help);
      return ExitCode.ok;
    }
    const log = createStderrLogger(io.stderr);
    const dryRun = values["dry-run"] ?? false;
    if (values.ledger) {
      if (values.provider || values.region || values["older-than"]) {
        throw new ConfigError("sweep: --ledger cannot be combined with --provider, --region or --older-than");
      }
      const ledger = await Ledger.open(values.ledger).catch((error) => {
        throw new ConfigError(`sweep: cannot read ledger ${values.ledger}: ${error.code ?? error.message}`);
      });
      const settings = ledger.providerOptions;
      const report = await cleanupLedger(ledger, () => createProvider(settings, log), log, {
        dryRun,
        includeKept: values.kept ?? false
      });
      if (values.json) {
        io.stdout.write(
          `${JSON.stringify(
            {
              // `id` is the provider's id (found again for an entry whose create answer was lost),
              // null for an entry that was never created; `key` is the ledger's own name for it.
              deleted: report.deleted.map((e) => ({ kind: e.kind, id: e.id, key: e.key })),
              failed: report.failed.map((f) => ({
                kind: f.entry.kind,
                id: f.entry.id,
                key: f.entry.key,
                error: f.message
              }))
            },
            null,
            2
          )}
`
        );
      } else {
        log.info(
          `${dryRun ? "would delete" : "deleted"} ${report.deleted.length}, failed ${report.failed.length}`
        );
      }
      return report.failed.length ? ExitCode.pipelineError : ExitCode.ok;
    }
    if (values.kept) throw new ConfigError("sweep: --kept only applies to --ledger");
    const olderThanMs = values["older-than"] ? requireDuration("--older-than", values["older-than"]) : void 0;
    const regions = values.region ?? [];
    const provider = await providerForName(values.provider ?? "local", io.env, log, regions[0] ?? null);
    const swept = await provider.sweep({ dryRun, ...olderThanMs ? { olderThanMs } : {}, regions }, log);
    if (values.json) {
      io.stdout.write(`${JSON.stringify(swept, null, 2)}
`);
    } else {
      for (const r of swept) {
        log.info(
          `${r.deleted ? "deleted" : dryRun ? "would delete" : "could not delete"} ${r.kind} ${r.id}: ${r.error ?? r.reason}`
        );
      }
      log.info(`${swept.length} resource(s) ${dryRun ? "found" : "swept"}`);
    }
    return swept.some((r) => !r.deleted && !dryRun) ? ExitCode.pipelineError : ExitCode.ok;
  }
};

// src/cli/commands/bakery.ts
import { resolve as resolve3 } from "node:path";
function resolvePeerTokenPath(cwd, arg) {
  const cut = arg.indexOf("=");
  return cut > 0 ? `${arg.slice(0, cut)}=${resolve3(cwd, arg.slice(cut + 1))}` : resolve3(cwd, arg);
}
var HELP = `Usage: ovenproof bakery serve [--listen HOST:PORT] [--provider local|ec2] [--region R] [--data-dir DIR]
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
function parseSize(text) {
  const match = /^(\d+)([kmg]?)$/i.exec(text.trim());
  if (!match) throw new ConfigError(`--max-file-size: "${text}" is not a size (use e.g. 512m, 2g)`);
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2].toLowerCase()];
  return Number(match[1]) * unit;
}
function parseCount(name, text, fallback) {
  if (text === void 0) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new ConfigError(`${name}: "${text}" is not a positive whole number`);
  return value;
}
function parseListen(text) {
  const match = /^(.+):(\d+)$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65535)
    throw new ConfigError(`--listen: "${text}" is not HOST:PORT (e.g. 127.0.0.1:8780)`);
  return { host: match[1].replace(/^\[(.*)\]$/, "$1"), port };
}
async function serve(args, io) {
  const { values } = parseCommandArgs("bakery serve", args, {
    listen: { type: "string" },
    provider: { type: "string" },
    region: { type: "string" },
    "data-dir": { type: "string" },
    "token-file": { type: "string" },
    "oidc-issuer": { type: "string" },
    "oidc-audience": { type: "string" },
    "allow-repo": { type: "string", multiple: true },
    peer: { type: "string", multiple: true },
    "peer-token-file": { type: "string", multiple: true },
    "max-concurrent": { type: "string" },
    "max-queued": { type: "string" },
    "max-file-size": { type: "string" },
    grace: { type: "string" },
    store: { type: "string" },
    lease: { type: "string" }
  });
  if (values.help) {
    io.stdout.write(HELP);
    return ExitCode.ok;
  }
  const allowRepos = values["allow-repo"] ?? [];
  for (const pattern of allowRepos) {
    if (!/^[A-Za-z0-9_.-]+\/(\*|[A-Za-z0-9_.-]+)$/.test(pattern))
      throw new ConfigError(`--allow-repo: "${pattern}" is not OWNER/NAME or OWNER/*`);
  }
  const audience = values["oidc-audience"];
  if (audience && allowRepos.length === 0)
    throw new ConfigError("--oidc-audience: also give --allow-repo for the repositories that may bake");
  if (!audience && allowRepos.length > 0)
    throw new ConfigError("--allow-repo: only applies to OIDC tokens; also give --oidc-audience");
  if (!audience && !values["token-file"])
    throw new ConfigError(
      "bakery serve: give --token-file and/or --oidc-audience (every bake needs a credential)"
    );
  const { host, port } = parseListen(values.listen ?? "127.0.0.1:8780");
  const home = ovenproofHome(io.env);
  const log = createStderrLogger(io.stderr);
  const provider = await providerForName(values.provider ?? "local", io.env, log, values.region ?? null);
  const region = provider.name === "ec2" ? values.region ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION ?? null : values.region ?? null;
  const peers = await parsePeers(
    values.peer ?? [],
    (values["peer-token-file"] ?? []).map((arg) => resolvePeerTokenPath(io.cwd, arg)),
    region
  );
  const bakery = await startBakery(
    {
      host,
      port,
      dataDir: resolve3(io.cwd, values["data-dir"] ?? resolve3(home, "bakery")),
      tokenFile: values["token-file"] ? resolve3(io.cwd, values["token-file"]) : null,
      oidc: audience ? { issuer: values["oidc-issuer"] ?? GITHUB_ACTIONS_ISSUER, audience, allowRepos } : null,
      maxConcurrent: parseCount("--max-concurrent", values["max-concurrent"], 2),
      maxQueued: parseCount("--max-queued", values["max-queued"], 100),
      maxFileBytes: parseSize(values["max-file-size"] ?? "1g"),
      cacheTtlMs: 7 * 864e5,
      graceMs: requireDuration("--grace", values.grace ?? "5m"),
      statsWindowMs: 864e5,
      store: values.store ? { kind: "dynamodb", location: parseDynamoStoreUrl(values.store) } : { kind: "sqlite" },
      leaseMs: requireDuration("--lease", values.lease ?? "30s")
    },
    withPeers(bakerExecutor(provider, { home, region }), peers)
  );
  await new Promise((done) => {
    if (io.signal.aborted) done();
    else io.signal.addEventListener("abort", () => done(), { once: true });
  });
  await bakery.stop();
  return ExitCode.ok;
}
async function initStore(args, io) {
  const { values } = parseCommandArgs("bakery init-store", args, { store: { type: "string" } });
  if (values.help) {
    io.stdout.write(HELP);
    return ExitCode.ok;
  }
  if (!values.store)
    throw new ConfigError("bakery init-store: --store dynamodb://TABLE?region=R is required");
  const store = new DynamoJobStore(parseDynamoStoreUrl(values.store));
  try {
    const outcome = await store.createTable();
    io.stderr.write(
      `DynamoDB table ${store.location.table} ${outcome === "created" ? "created" : "already exists and is complete"}
`
    );
  } finally {
    await store.close();
  }
  return ExitCode.ok;
}
async function tokenCreate(args, io) {
  const { values, positionals } = parseCommandArgs(
    "bakery token create",
    args,
    { "token-file": { type: "string" } },
    true
  );
  if (values.help) {
    io.stdout.write(HELP);
    return ExitCode.ok;
  }
  const [name, ...extra] = positionals;
  if (!name || extra.length) throw new ConfigError("bakery token create: give exactly one NAME");
  if (!values["token-file"]) throw new ConfigError("bakery token create: --token-file FILE is required");
  try {
    const token = await createToken(resolve3(io.cwd, values["token-file"]), name);
    io.stdout.write(`${token}
`);
  } catch (error) {
    throw new ConfigError(`bakery token create: ${error.message}`);
  }
  io.stderr.write(
    `token "${name}" created; its hash is in ${values["token-file"]}. It is shown only this once.
`
  );
  return ExitCode.ok;
}
var bakeryCommand = {
  name: "bakery",
  summary: "Run the bake service (bakery serve), create its DynamoDB job store (bakery init-store) and manage its tokens (bakery token create)",
  help: HELP,
  async run(args, io) {
    const [verb, ...rest] = args;
    if (verb === "serve") return serve(rest, io);
    if (verb === "init-store") return initStore(rest, io);
    if (verb === "token" && rest[0] === "create") return tokenCreate(rest.slice(1), io);
    if (verb === "--help" || verb === "-h" || verb === "help") {
      io.stdout.write(HELP);
      return ExitCode.ok;
    }
    io.stderr.write(`ovenproof bakery: expected "serve", "init-store" or "token create"

${HELP}`);
    return ExitCode.usageError;
  }
};

// src/cli/commands/results.ts
import { resolve as resolve4 } from "node:path";
import { parseArgs as parseArgs2 } from "node:util";
var HELP2 = `Usage: ovenproof results FILE... [--format auto|junit|tap] [--path-map A=B]... [--strict=false] [--json]

Parses JUnit XML or TAP result files and prints the tests summary (the result file's "tests" object).

A result file whose structure does not prove its tests ran (a TAP stream without a plan or with
repeated test numbers, a YAML block or subtest never closed, "Bail out!", XML cut off) counts as one
failed test that says what was wrong.

Options:
  --format F        auto (default), junit or tap
  --path-map A=B    map paths in the results (A, e.g. /opt/app) to the repository (B, e.g. .); repeatable
  --strict=false    relax the structure checks (plans, test numbers, closed blocks, pragma +strict) for
                    tools known to break them; a bail-out or a cut-off file still fails
  --json            print the tests object as JSON on stdout
  -h, --help        show this help

Exit codes: 0 all tests passed (or no tests), 1 a test failed or a result file is incomplete,
3 a file that is not a test result, unreadable input or bad flags.

Examples:
  ovenproof results build/junit.xml
  ovenproof results results/*.xml --path-map /opt/app=. --json`;
var resultsCommand = {
  name: "results",
  summary: "Parse JUnit/TAP result files and print the tests summary",
  help: HELP2,
  run: runResults
};
async function runResults(args, io) {
  let files;
  let format;
  let pathMap;
  let json;
  let strict;
  try {
    const parsed2 = parseArgs2({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        format: { type: "string", default: "auto" },
        "path-map": { type: "string", multiple: true, default: [] },
        strict: { type: "string", default: "true" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false }
      }
    });
    if (parsed2.values.help) {
      io.stdout.write(`${HELP2}
`);
      return ExitCode.ok;
    }
    const f = parsed2.values.format;
    if (f !== "auto" && f !== "junit" && f !== "tap") {
      throw new ConfigError(`--format: "${f}" is not allowed (use auto, junit or tap)`);
    }
    const s = parsed2.values.strict;
    if (s !== "true" && s !== "false") {
      throw new ConfigError(`--strict: "${s}" is not allowed (use --strict=true or --strict=false)`);
    }
    strict = s === "true";
    if (parsed2.positionals.length === 0) throw new ConfigError("no result file given");
    format = f;
    pathMap = parsePathMap(parsed2.values["path-map"]);
    json = parsed2.values.json;
    files = parsed2.positionals.map((file) => resolve4(io.cwd, file));
  } catch (error) {
    io.stderr.write(`ovenproof results: ${oneLine(errorMessage(error))}
${HELP2.split("\n")[0]}
`);
    return ExitCode.usageError;
  }
  const parsed = await parseResultFiles(files, { format, strict });
  const repoRoot = await findRepoRoot(io.cwd);
  const tests = await summarizeResults(parsed, { pathMap, repoRoot });
  for (const problem of parsed.problems) {
    io.stderr.write(`ovenproof results: ${oneLine(problem.source)} ${oneLine(problem.message)}
`);
  }
  io.stdout.write(json ? `${JSON.stringify(tests, null, 2)}
` : renderTable(tests));
  if (parsed.problems.length > 0) return ExitCode.usageError;
  return tests.failed > 0 ? ExitCode.testsFailed : ExitCode.ok;
}
function renderTable(tests) {
  const lines = [
    `tests: ${tests.total} total, ${tests.passed} passed, ${tests.failed} failed, ${tests.skipped} skipped`
  ];
  for (const failure of tests.failures) {
    const where = failure.file ? `${failure.file}${failure.line ? `:${failure.line}` : ""}` : "(no repository file)";
    const title = failure.suite ? `${failure.suite} > ${failure.name}` : failure.name;
    lines.push(`FAIL ${oneLine(title)}`);
    lines.push(`  at ${oneLine(where)}`);
    if (failure.message) lines.push(`  message: ${oneLine(failure.message)}`);
  }
  return `${lines.join("\n")}
`;
}

// src/cli/commands/publish.ts
import { resolve as resolve5 } from "node:path";
import { parseArgs as parseArgs3 } from "node:util";
var HELP3 = `Usage: ovenproof publish --result-json FILE [--sha SHA] [--repo owner/name] [--check-name N]

Posts a finished run (the result JSON of \`ovenproof run --result-json\`) as a complete check run with one
annotation per failing test, without running any stage.

Options:
  --result-json FILE   result JSON to publish (required)
  --sha SHA            commit to attach the check run to; default: the head SHA of the triggering event
                       (workflow_run \u2192 workflow_run.head_sha), else GITHUB_SHA, else the result's commit
  --repo owner/name    repository; default GITHUB_REPOSITORY
  --check-name N       check run name; default ovenproof
  -h, --help           show this help

Environment:
  GITHUB_TOKEN         token with checks: write (required)
  GITHUB_API_URL       REST API URL (GitHub Enterprise Server: https://HOST/api/v3); default ${DEFAULT_API_URL}

Exit codes: 0 published, 2 GitHub API failure, 3 bad flags or result file. Without \`checks: write\`
(HTTP 403) the failing tests are printed as workflow-command annotations (\`::error file=\u2026,line=\u2026::\`)
and written to the job summary instead, and the exit code is 2.

Example:
  GITHUB_TOKEN=\u2026 ovenproof publish --result-json ovenproof-result.json --sha "$HEAD_SHA" --repo octo/app
`;
var SHA_RE = /^[0-9a-f]{40}([0-9a-f]{24})?$/i;
var REPO_RE = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
function stderrLogger(io, secrets) {
  const redact = (message) => secrets.reduce((text, secret) => secret ? text.split(secret).join("***") : text, message);
  return {
    info: (message) => io.stderr.write(`${redact(message)}
`),
    warn: (message) => io.stderr.write(`warning: ${redact(message)}
`),
    debug: (message) => {
      if (io.env.OVENPROOF_DEBUG) io.stderr.write(`debug: ${redact(message)}
`);
    },
    mask: (secret) => {
      secrets.push(secret);
    }
  };
}
async function publish(args, io) {
  let values;
  try {
    ({ values } = parseArgs3({
      args,
      options: {
        "result-json": { type: "string" },
        sha: { type: "string" },
        repo: { type: "string" },
        "check-name": { type: "string" },
        help: { type: "boolean", short: "h" }
      },
      strict: true,
      allowPositionals: false
    }));
  } catch (error) {
    throw new ConfigError(`publish: ${errorMessage(error)}`);
  }
  if (values.help) {
    io.stdout.write(HELP3);
    return ExitCode.ok;
  }
  const resultPath = values["result-json"];
  if (!resultPath) throw new ConfigError("publish: --result-json FILE is required");
  const token = io.env.GITHUB_TOKEN;
  if (!token)
    throw new ConfigError("publish: GITHUB_TOKEN is not set (a token with checks: write is needed)");
  const repository = values.repo ?? io.env.GITHUB_REPOSITORY;
  if (!repository)
    throw new ConfigError(
      "publish: --repo owner/name is required outside GitHub Actions (GITHUB_REPOSITORY is not set)"
    );
  if (!REPO_RE.test(repository))
    throw new ConfigError(`publish: --repo "${repository}" is not of the form owner/name`);
  const checkName = values["check-name"] ?? "ovenproof";
  if (!checkName.trim()) throw new ConfigError("publish: --check-name must not be empty");
  const result = await readRunResult(resolve5(io.cwd, resultPath));
  const sha = values.sha ?? await headShaFromEnv(io.env) ?? result.commit;
  if (!sha) throw new ConfigError("publish: no commit to attach the check run to: pass --sha SHA");
  if (!SHA_RE.test(sha))
    throw new ConfigError(`publish: --sha "${sha}" is not a full 40-character commit SHA`);
  const [owner, repo] = repository.split("/");
  const secrets = [];
  const log = stderrLogger(io, secrets);
  const apiUrl = io.env.GITHUB_API_URL || DEFAULT_API_URL;
  const outcome = await publishResult(result, {
    token,
    apiUrl,
    owner,
    repo,
    sha: sha.toLowerCase(),
    name: checkName,
    log,
    ...io.env.GITHUB_SERVER_URL ? { serverUrl: io.env.GITHUB_SERVER_URL } : {},
    ...workflowFileFromEnv(io.env) ? { fallbackPath: workflowFileFromEnv(io.env) } : {},
    jobSummary: Boolean(io.env.GITHUB_STEP_SUMMARY),
    // Workflow commands are read from stdout by the Actions runner (the 403 fallback).
    commandSink: (line) => io.stdout.write(`${line}
`)
  });
  io.stderr.write(`published check run "${checkName}" on ${sha} with ${outcome.annotations} annotations
`);
  if (outcome.checkRunUrl) io.stdout.write(`${outcome.checkRunUrl}
`);
  return ExitCode.ok;
}
var publishCommand = {
  name: "publish",
  summary: "Post a finished result JSON as a check run (fork-safe workflow_run pattern)",
  help: HELP3,
  async run(args, io) {
    try {
      return await publish(args, io);
    } catch (error) {
      io.stderr.write(`ovenproof publish: ${errorMessage(error)}
`);
      return exitCodeOf(error);
    }
  }
};

// src/cli/commands/base.ts
import { performance } from "node:perf_hooks";
function parseSizeGiB(text) {
  const m = /^(\d+(?:\.\d+)?)\s*(g|gb|gib|m|mb|mib)?$/i.exec(text.trim());
  if (!m) throw new ConfigError(`base build: --size "${text}" is not a size (use e.g. 4G or 8192M)`);
  const value = Number(m[1]);
  const gib = /^m/i.test(m[2] ?? "g") ? value / 1024 : value;
  if (!(gib >= 1 && gib <= 1024))
    throw new ConfigError(`base build: --size "${text}" must be between 1G and 1024G`);
  return gib;
}
var baseCommand = {
  name: "base",
  summary: "Build the local provider base image (cached)",
  help: `Usage: ovenproof base build [--name debian-12] [--suite S] [--mirror URL] [--size 4G] [--rebuild] [--json]

Builds a bootable base image for the local provider with mmdebstrap: the host's distribution and
apt sources by default, systemd, openssh-server, DHCP networking, a kernel for direct boot and
ovenproof's first-boot identity init. Stored under $OVENPROOF_HOME/images (default
~/.cache/ovenproof); a second call with the same name returns the cached image at once.
Needs root or passwordless sudo.

Options:
  --name N      image name (default: <distribution>-<version> of the suite, e.g. debian-12)
  --suite S     distribution suite / codename (default: the host's, e.g. bookworm)
  --mirror URL  apt mirror (default: the host's configured apt sources)
  --size SIZE   filesystem size, sparse (default: 4G)
  --rebuild     build a new image even if one with this name exists (replaces it)
  --json        print {image, cacheHit, durationMs} as JSON on stdout

Examples:
  ovenproof base build
  ovenproof base build --suite trixie --name debian-13 --mirror http://deb.debian.org/debian
`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      "base",
      args,
      {
        name: { type: "string" },
        suite: { type: "string" },
        mirror: { type: "string" },
        size: { type: "string" },
        rebuild: { type: "boolean" },
        json: { type: "boolean" },
        verbose: { type: "boolean", short: "v" }
      },
      true
    );
    if (values.help) {
      io.stdout.write(this.help);
      return ExitCode.ok;
    }
    if (positionals.length !== 1 || positionals[0] !== "build") {
      throw new ConfigError(
        `base: expected the sub-command "build", got ${positionals.length ? `"${positionals.join(" ")}"` : "nothing"} (see ovenproof base --help)`
      );
    }
    const log = createStderrLogger(io.stderr, { verbose: values.verbose ?? false });
    const provider = createLocalProvider({ home: ovenproofHome(io.env), log });
    const started = performance.now();
    const result = await provider.buildBaseImage({
      ...values.name !== void 0 ? { name: values.name } : {},
      ...values.suite !== void 0 ? { suite: values.suite } : {},
      ...values.mirror !== void 0 ? { mirror: values.mirror } : {},
      ...values.size !== void 0 ? { sizeGiB: parseSizeGiB(values.size) } : {},
      rebuild: values.rebuild ?? false,
      log
    });
    const durationMs = Math.round(performance.now() - started);
    if (values.json) {
      io.stdout.write(
        JSON.stringify({ image: result.image, cacheHit: result.cacheHit, durationMs }, null, 2) + "\n"
      );
    } else {
      const { image } = result;
      io.stdout.write(
        `${image.name} ${image.id} (${image.os}, ${Object.keys(image.packages).length} packages)${result.cacheHit ? " \u2014 cached" : ` \u2014 built in ${(durationMs / 1e3).toFixed(1)} s`}
`
      );
    }
    return ExitCode.ok;
  }
};

// src/pipeline/prune.ts
function isBakeCacheImage(image) {
  return image.bakeKey !== null && image.parent !== null && image.tags[KEPT_TAG] !== "true";
}
function pruneContext(log) {
  return {
    runId: "prune",
    expiresAt: /* @__PURE__ */ new Date(),
    journal: {
      intend: async () => void 0,
      created: async () => void 0,
      deleted: async () => void 0,
      kept: async () => void 0
    },
    signal: new AbortController().signal,
    log,
    progress: () => void 0,
    tags: {}
  };
}
async function pruneBakeCache(provider, options) {
  const now = options.now ?? Date.now();
  const candidates = (await provider.listImages()).filter(isBakeCacheImage);
  candidates.sort((a, b) => lastUsedAt(b) - lastUsedAt(a) || b.createdAt.localeCompare(a.createdAt));
  const ctx = pruneContext(options.log);
  const decisions = [];
  for (const [index, image] of candidates.entries()) {
    const used = lastUsedAt(image);
    const leases = activeLeases(image.tags, now);
    let reason = null;
    if (leases.length > 0) reason = `in use by run ${leases.join(", ")}`;
    else if (options.keepLast !== null && index < options.keepLast)
      reason = `one of the ${options.keepLast} most recently used`;
    else if (options.olderThanMs !== null && now - used < options.olderThanMs) reason = "used too recently";
    const decision = {
      id: image.id,
      name: image.name,
      bakeKey: image.bakeKey,
      lastUsedAt: isoSeconds(new Date(used)),
      expiresAt: image.tags[EXPIRES_TAG] ?? null,
      action: reason ? "kept" : options.dryRun ? "would-delete" : "deleted",
      reason: reason ?? "unpromoted bake-cache image"
    };
    if (decision.action === "deleted") await provider.deregisterImage(ctx, image.id);
    decisions.push(decision);
  }
  return decisions;
}

// src/cli/commands/images.ts
var HELP4 = `Usage: ovenproof images [--provider P] [--json] [QUERY...]
       ovenproof images prune [--provider P] [--older-than D] [--keep-last N] [--dry-run] [--json]

Lists the images ovenproof knows with their manifests: base images and bakes, newest first.
QUERY is an image id or name and/or key=value filters (manifest fields such as os=debian-12,
tags such as ovenproof:kept=true, package:jq=* for "has jq installed").

Options:
  --provider P  local or ec2 (default: local)
  --json        print the manifests as a JSON array on stdout

prune deletes unpromoted bake-cache images now instead of at their expiry: images baked for reuse
that keep-image did not promote (no ovenproof:kept=true). Base images, promoted images and images a
running run is using are never deleted.

Prune options:
  --older-than D  only images last used at least D ago (e.g. 2d, 0s for any)
  --keep-last N   keep the N most recently used cache images whatever their age
  --dry-run       list what would be deleted, delete nothing

Examples:
  ovenproof images
  ovenproof images prune --older-than 3d --keep-last 5 --dry-run
  ovenproof images --json debian-12
  ovenproof images --provider ec2 os=debian-12 package:nginx=*
`;
function humanSize(bytes) {
  if (bytes === void 0) return "-";
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)}G` : `${Math.round(bytes / 2 ** 20)}M`;
}
function table(images) {
  const rows = [["ID", "NAME", "OS", "PARENT", "CREATED", "PKGS", "SIZE", "KEPT"]];
  for (const i of images) {
    rows.push([
      i.id,
      i.name,
      i.os,
      i.parent ?? "-",
      i.createdAt.replace(/\.\d+Z$/, "Z"),
      String(Object.keys(i.packages).length),
      humanSize(i.sizes?.allocatedBytes ?? i.sizes?.diskBytes),
      i.tags["ovenproof:kept"] === "true" ? "yes" : "no"
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map(
    (r) => r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd()
  ).join("\n") + "\n";
}
var PRUNE_VERBS = {
  deleted: "deleted",
  "would-delete": "would delete",
  kept: "kept"
};
async function prune(args, io, createProviderFor, log) {
  const { values } = parseCommandArgs("images prune", args, {
    provider: { type: "string" },
    "older-than": { type: "string" },
    "keep-last": { type: "string" },
    "dry-run": { type: "boolean" },
    json: { type: "boolean" }
  });
  if (values.help) {
    io.stdout.write(HELP4);
    return ExitCode.ok;
  }
  const name = values.provider ?? "local";
  if (name !== "local" && name !== "ec2") {
    throw new ConfigError(`images prune: --provider "${name}" is not a provider (use local or ec2)`);
  }
  const olderThan = values["older-than"];
  const keepLastText = values["keep-last"];
  if (keepLastText !== void 0 && !/^\d+$/.test(keepLastText)) {
    throw new ConfigError(`images prune: --keep-last "${keepLastText}" is not a whole number`);
  }
  const provider = await createProviderFor(name, io.env);
  const decisions = await pruneBakeCache(provider, {
    olderThanMs: olderThan === void 0 ? null : requireDuration("images prune: --older-than", olderThan),
    keepLast: keepLastText === void 0 ? null : Number(keepLastText),
    dryRun: values["dry-run"] ?? false,
    log
  });
  if (values.json) io.stdout.write(`${JSON.stringify(decisions, null, 2)}
`);
  for (const d of decisions) {
    io.stderr.write(`${PRUNE_VERBS[d.action]} ${d.id} (${d.name}), last used ${d.lastUsedAt}: ${d.reason}
`);
  }
  const removed = decisions.filter((d) => d.action !== "kept").length;
  io.stderr.write(
    `${values["dry-run"] ? "would delete" : "deleted"} ${removed} of ${decisions.length} unpromoted bake-cache image(s)
`
  );
  return ExitCode.ok;
}
function makeImagesCommand(createProviderFor) {
  return {
    name: "images",
    summary: "List images and their manifests",
    help: HELP4,
    async run(args, io) {
      if (args[0] === "prune")
        return prune(args.slice(1), io, createProviderFor, createStderrLogger(io.stderr));
      const { values, positionals } = parseCommandArgs(
        "images",
        args,
        { provider: { type: "string" }, json: { type: "boolean" } },
        true
      );
      if (values.help) {
        io.stdout.write(HELP4);
        return ExitCode.ok;
      }
      const name = values.provider ?? "local";
      providerEntry(name, "images: --provider");
      let query;
      try {
        query = positionals.length ? parseImageQuery(positionals.join(" ")) : {};
      } catch (error) {
        throw new ConfigError(`images: ${error.message}`);
      }
      const provider = await createProviderFor(name, io.env);
      const images = await provider.listImages(query);
      if (values.json) io.stdout.write(JSON.stringify(images, null, 2) + "\n");
      else if (images.length === 0) {
        io.stderr.write(
          `no ${name} images${positionals.length ? " match" : ""}` + (name === "local" ? " (build the base with `ovenproof base build`)\n" : "\n")
        );
      } else io.stdout.write(table(images));
      return ExitCode.ok;
    }
  };
}
var imagesCommand = makeImagesCommand(
  (name, env) => providerForName(name, env, createStderrLogger(process.stderr))
);

// src/cli/commands/reproduce.ts
import { readFile } from "node:fs/promises";
import { resolve as resolve6 } from "node:path";

// src/ssh/terminal.ts
var SIGNAL_NUMBERS = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, TERM: 15 };
var NO_STATUS = 255;
async function interactiveShell(session, io, signal) {
  if (!(session instanceof OpenSshSession)) throw new Error("interactive shells need an OpenSSH session");
  signal.throwIfAborted();
  const tty = Boolean(io.stdin.isTTY && io.stdin.setRawMode);
  const size = () => ({ rows: io.stdout.rows || 24, cols: io.stdout.columns || 80 });
  const channel = await session.openShell(tty ? { term: io.term || "xterm-256color", ...size() } : null);
  return new Promise((resolve7, reject) => {
    let status = null;
    const onInput = (chunk) => channel.write(chunk);
    const onInputEnd = () => channel.end();
    const onResize = () => {
      const { rows, cols } = size();
      channel.setWindow(rows, cols, 0, 0);
    };
    const onAbort = () => channel.close();
    const restore = () => {
      io.stdin.off("data", onInput);
      io.stdin.off("end", onInputEnd);
      io.stdout.off("resize", onResize);
      signal.removeEventListener("abort", onAbort);
      if (tty) io.stdin.setRawMode(false);
      io.stdin.pause();
    };
    channel.on("data", (chunk) => io.stdout.write(chunk));
    channel.stderr.on("data", (chunk) => io.stderr.write(chunk));
    channel.on("exit", (code2, signalName) => {
      if (typeof code2 === "number") status = code2;
      else if (signalName) status = 128 + (SIGNAL_NUMBERS[String(signalName)] ?? 0);
    });
    channel.on("close", () => {
      restore();
      if (signal.aborted)
        reject(signal.reason instanceof Error ? signal.reason : new CancelledError("cancelled"));
      else resolve7(status ?? NO_STATUS);
    });
    if (tty) {
      io.stdin.setRawMode(true);
      io.stdout.on("resize", onResize);
    }
    io.stdin.on("data", onInput);
    io.stdin.on("end", onInputEnd);
    io.stdin.resume();
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

// src/cli/commands/reproduce.ts
function splitCommand(args) {
  const at = args.indexOf("--");
  if (at < 0) return { flags: args, command: null };
  const words = args.slice(at + 1);
  if (words.length === 0)
    throw new ConfigError("nothing after --: give a command, or leave out -- for a shell");
  return { flags: args.slice(0, at), command: words.join(" ") };
}
async function runRemote(session, command, io) {
  if (command === null) {
    return interactiveShell(
      session,
      {
        stdin: process.stdin,
        stdout: io.stdout,
        stderr: io.stderr,
        ...io.env.TERM ? { term: io.env.TERM } : {}
      },
      io.signal
    );
  }
  const result = await session.exec(command, {
    onStdout: (text) => io.stdout.write(text),
    onStderr: (text) => io.stderr.write(text),
    signal: io.signal
  });
  return result.exitCode ?? 255;
}
function withHangup(io) {
  const controller = new AbortController();
  const abort = (reason) => controller.abort(reason);
  const onHangup = () => abort(new Error("SIGHUP: the terminal closed"));
  if (io.signal.aborted) abort(io.signal.reason);
  io.signal.addEventListener("abort", () => abort(io.signal.reason), { once: true });
  process.on("SIGHUP", onHangup);
  return { io: { ...io, signal: controller.signal }, dispose: () => process.off("SIGHUP", onHangup) };
}
var REPRODUCE_HELP = `Usage: ovenproof reproduce (--result-json FILE | --image ID) [--provider P] [--region R]
                         [--ssh-user U] [--ttl D] [--keep] [-- COMMAND...]

Boots an instance from a failure image (the disk of a failed run's test instance, captured with
snapshot-on-failure: disk) with a new identity \u2014 new host key, machine-id and hostname \u2014 and either
runs COMMAND there and exits with its status, or opens an interactive shell (a real terminal: the
window size follows yours and Ctrl-C reaches the remote program). The instance is terminated when
the command or shell ends, on Ctrl-C/SIGTERM/SIGHUP, and by its TTL whatever happens.

Options:
  --result-json FILE  result JSON of the failed run: boots its failureImage on its provider
  --image ID          boot this image instead (any image of the provider)
  --provider P        local or ec2 (default: the result's provider, else local)
  --region R          ec2 region (default: AWS_REGION)
  --ssh-user U        login user (default: root on local, admin on ec2)
  --ttl D             the instance powers itself off after D (default 60m)
  --keep              leave the instance running (until its TTL) and print how to reach it
  --verbose           debug output

Exit codes: COMMAND's exit status (the shell's, interactively); 2 launch or SSH failure; 3 bad flags.

Examples:
  ovenproof reproduce --result-json result.json -- cat /var/tmp/hello-deb/results/junit.xml
  ovenproof reproduce --result-json result.json
  ovenproof reproduce --image img-0123456789ab --keep
`;
var reproduceCommand = {
  name: "reproduce",
  summary: "Boot a failed run's captured disk with a new identity: a shell, or one command",
  help: REPRODUCE_HELP,
  async run(args, rawIo) {
    const { flags, command } = splitCommand(args);
    const { values } = parseCommandArgs("reproduce", flags, {
      "result-json": { type: "string" },
      image: { type: "string" },
      provider: { type: "string" },
      region: { type: "string" },
      "ssh-user": { type: "string" },
      ttl: { type: "string" },
      keep: { type: "boolean" },
      verbose: { type: "boolean" }
    });
    if (values.help) {
      rawIo.stdout.write(REPRODUCE_HELP);
      return ExitCode.ok;
    }
    if (Boolean(values["result-json"]) === Boolean(values.image))
      throw new ConfigError("reproduce: give exactly one of --result-json FILE and --image ID");
    let imageId = values.image ?? null;
    let providerName = values.provider ?? null;
    if (values["result-json"]) {
      const path = resolve6(rawIo.cwd, values["result-json"]);
      const result = await readRunResult(path);
      if (!result.failureImage) {
        throw new ConfigError(
          `reproduce: ${path} has no failureImage (the run ${result.status === "failed" ? "had snapshot-on-failure: never or its capture failed" : `did not fail its tests (status ${result.status})`})`
        );
      }
      if (Date.parse(result.failureImage.expiresAt) < Date.now())
        throw new ConfigError(
          `reproduce: failure image ${result.failureImage.id} expired at ${result.failureImage.expiresAt} and may have been swept`
        );
      imageId = result.failureImage.id;
      providerName ??= result.provider;
    }
    const ttlMs = requireDuration("--ttl", values.ttl ?? "60m");
    const config = resolveConfig(
      {
        flags: {
          provider: providerName ?? "local",
          ...values.region ? { region: values.region } : {},
          ...values["ssh-user"] ? { "ssh-user": values["ssh-user"] } : {}
        }
      },
      { entry: "cli", projectDir: rawIo.cwd }
    );
    const log = createStderrLogger(rawIo.stderr, { verbose: values.verbose });
    const settings = providerSettingsFor(config, rawIo.env);
    const provider = await createProvider(settings, log);
    const { io, dispose } = withHangup(rawIo);
    try {
      const outcome = await withReproduction(
        {
          provider,
          providerSettings: settings,
          imageId,
          sshUser: config.sshUser,
          ttlMs,
          keep: values.keep ?? false,
          log,
          signal: io.signal
        },
        ({ session }) => runRemote(session, command, io)
      );
      if (outcome.kept) {
        log.warn(
          `--keep: instance ${outcome.instanceId} stays up for at most ${Math.round(ttlMs / 6e4)} min. Reach it with:
  ${opensshCommand(outcome.kept.debugSsh)}
Remove it early with: ovenproof sweep --ledger ${outcome.kept.ledgerPath} --kept`
        );
      }
      return outcome.value;
    } finally {
      dispose();
    }
  }
};
async function kept(result, path) {
  const debugSsh = result.instance?.debugSsh;
  if (!debugSsh)
    throw new ConfigError(
      `ssh: ${path} names no kept instance (runs keep one with keep-instance: on-failure)`
    );
  const read = (file) => readFile(file, "utf8").catch((error) => {
    throw new ConfigError(
      `ssh: cannot read ${file} (${error.code ?? error.message}); was the run's work directory removed?`
    );
  });
  const knownHost = (await read(debugSsh.knownHostsFile)).trim().split(/\s+/);
  return {
    host: debugSsh.host,
    port: debugSsh.port,
    user: debugSsh.user,
    privateKey: await read(debugSsh.privateKeyFile),
    hostKeyPublic: knownHost.slice(1, 3).join(" ")
  };
}
var SSH_HELP = `Usage: ovenproof ssh --result-json FILE [-- COMMAND...]

Connects to the instance a failed run kept (keep-instance: on-failure), pinned to the host key that
run generated, and runs COMMAND (exiting with its status) or opens an interactive shell. The instance
stays up until its TTL; remove it early with \`ovenproof sweep --ledger LEDGER --kept\` (the run prints
the exact command).

Options:
  --result-json FILE  result JSON of the run that kept the instance
  --verbose           debug output

Examples:
  ovenproof ssh --result-json result.json
  ovenproof ssh --result-json result.json -- journalctl -b --no-pager
`;
var sshCommand = {
  name: "ssh",
  summary: "Open a shell (or run a command) on the instance a failed run kept",
  help: SSH_HELP,
  async run(args, rawIo) {
    const { flags, command } = splitCommand(args);
    const { values } = parseCommandArgs("ssh", flags, {
      "result-json": { type: "string" },
      verbose: { type: "boolean" }
    });
    if (values.help) {
      rawIo.stdout.write(SSH_HELP);
      return ExitCode.ok;
    }
    if (!values["result-json"]) throw new ConfigError("ssh: --result-json FILE is required");
    const path = resolve6(rawIo.cwd, values["result-json"]);
    const target = await kept(await readRunResult(path), path);
    const log = createStderrLogger(rawIo.stderr, { verbose: values.verbose });
    log.mask(target.privateKey);
    const { io, dispose } = withHangup(rawIo);
    try {
      const session = await waitForSsh(target, {
        timeoutMs: 6e4,
        signal: io.signal,
        log,
        stage: "launch"
      });
      try {
        return await runRemote(session, command, io);
      } finally {
        await session.close().catch(() => void 0);
      }
    } finally {
      dispose();
    }
  }
};

// src/cli/main.ts
var COMMANDS = [
  runCommand,
  bakeCommand,
  imagesCommand,
  baseCommand,
  resultsCommand,
  sweepCommand,
  publishCommand,
  reproduceCommand,
  sshCommand,
  bakeryCommand
];
function version() {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    return pkg.version;
  } catch {
    return "unknown";
  }
}
function overview() {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return `ovenproof: turn a commit into a tested machine image.

Usage: ovenproof <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join("\n")}

Run \`ovenproof <command> --help\` for a command's options and examples.
Exit codes: 0 tests passed / success, 1 tests failed, 2 pipeline error, 3 usage or config error.
`;
}
async function main(argv, io) {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    (name ? io.stdout : io.stderr).write(overview());
    return name ? ExitCode.ok : ExitCode.usageError;
  }
  if (name === "--version" || name === "-V") {
    io.stdout.write(`${version()}
`);
    return ExitCode.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(
      `ovenproof: unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(", ")}
`
    );
    return ExitCode.usageError;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    io.stderr.write(`ovenproof ${name}: ${errorMessage(error)}
`);
    return exitCodeOf(error);
  }
}
var signals = abortOnSignals(createStderrLogger(process.stderr));
var code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: signals.signal
});
signals.dispose();
process.exitCode = code;
setTimeout(() => process.exit(code), 2e3).unref();
//# sourceMappingURL=cli.js.map
