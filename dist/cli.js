#!/usr/bin/env node
import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); const __filename = __opFileURLToPath(import.meta.url); const __dirname = __opDirname(__filename);
import {
  ConsoleReporter,
  DEFAULT_API_URL,
  PipelineEvents,
  abortOnSignals,
  executePipeline,
  findRepoRoot,
  headShaFromEnv,
  oneLine,
  parsePathMap,
  parseResultFiles,
  publishResult,
  readRunResult,
  removeWorkDirIfClean,
  renderJobSummary,
  summarizeResults,
  workflowFileFromEnv,
  writeResultJson
} from "./chunks/chunk-ZDTHCUO6.js";
import {
  Ledger,
  cleanupLedger,
  createProvider,
  ovenproofHome,
  parseSetFlags,
  providerForName,
  readConfigFile,
  resolveConfig
} from "./chunks/chunk-HGUMNCOH.js";
import {
  createLocalProvider,
  parseImageQuery
} from "./chunks/chunk-SQF4HNHE.js";
import {
  secretLines
} from "./chunks/chunk-VLLWPT5D.js";
import {
  formatDuration,
  requireDuration
} from "./chunks/chunk-5ULZFXIM.js";
import "./chunks/chunk-D6AMY7HW.js";
import {
  ConfigError,
  ExitCode,
  errorMessage,
  exitCodeOf
} from "./chunks/chunk-DDK2HIRZ.js";
import "./chunks/chunk-KZMJUW2X.js";

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
      `  image: ${result.image.id}${result.image.cacheHit ? " (bake cache hit)" : ""}${result.image.kept ? ", kept" : ", not kept"}`
    );
  }
  if (result.instance) lines.push(`  instance: ${result.instance.id} (${result.instance.address})`);
  lines.push("  stages:");
  for (const s of result.stages) {
    lines.push(
      `    ${s.name.padEnd(9)} ${s.status.padEnd(8)} ${s.status === "skipped" ? "" : formatDuration(s.durationMs)}`.trimEnd()
    );
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
  --result-json FILE  write the result JSON (SPEC result format) to FILE
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
earlier image with the same bake key when there is one. The image is kept. With --json, prints the
image object (id, baseImageId, bakeKey, cacheHit, kept) plus durationsMs per bake step on stdout.

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
  --json            print the list as JSON on stdout

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
              deleted: report.deleted.map((e) => ({ kind: e.kind, id: e.id ?? e.key })),
              failed: report.failed.map((f) => ({
                kind: f.entry.kind,
                id: f.entry.id ?? f.entry.key,
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
          `${r.deleted ? "deleted" : dryRun ? "would delete" : "could not delete"} ${r.kind} ${r.id}: ${r.reason}`
        );
      }
      log.info(`${swept.length} resource(s) ${dryRun ? "found" : "swept"}`);
    }
    return swept.some((r) => !r.deleted && !dryRun) ? ExitCode.pipelineError : ExitCode.ok;
  }
};

// src/cli/commands/bakery.ts
var bakeryCommand = {
  name: "bakery",
  summary: "Run the long-running bake service (not available in this version)",
  help: `Usage: ovenproof bakery serve [--port N] [--region R] [--peer region=url]...

The bakery (a shared HTTP bake service with a bake-key cache) is not available in this
version of ovenproof. Bake in-process instead: \`ovenproof bake\` or \`ovenproof run\`.
`,
  async run(_args, io) {
    io.stderr.write(
      "ovenproof bakery: the bake service is not available in this version; use `ovenproof bake`\n"
    );
    return ExitCode.usageError;
  }
};

// src/cli/commands/results.ts
import { resolve as resolve3 } from "node:path";
import { parseArgs as parseArgs2 } from "node:util";
var HELP = `Usage: ovenproof results FILE... [--format auto|junit|tap] [--path-map A=B]... [--json]

Parses JUnit XML or TAP result files and prints the tests summary (SPEC \xA72.3 "tests").

Options:
  --format F        auto (default), junit or tap
  --path-map A=B    map paths in the results (A, e.g. /opt/app) to the repository (B, e.g. .); repeatable
  --json            print the tests object as JSON on stdout
  -h, --help        show this help

Exit codes: 0 all tests passed, 1 a test failed, 3 unreadable input or bad flags.

Examples:
  ovenproof results build/junit.xml
  ovenproof results results/*.xml --path-map /opt/app=. --json`;
var resultsCommand = {
  name: "results",
  summary: "Parse JUnit/TAP result files and print the tests summary",
  help: HELP,
  run: runResults
};
async function runResults(args, io) {
  let files;
  let format;
  let pathMap;
  let json;
  try {
    const parsed2 = parseArgs2({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        format: { type: "string", default: "auto" },
        "path-map": { type: "string", multiple: true, default: [] },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false }
      }
    });
    if (parsed2.values.help) {
      io.stdout.write(`${HELP}
`);
      return ExitCode.ok;
    }
    const f = parsed2.values.format;
    if (f !== "auto" && f !== "junit" && f !== "tap") {
      throw new ConfigError(`--format: "${f}" is not allowed (use auto, junit or tap)`);
    }
    if (parsed2.positionals.length === 0) throw new ConfigError("no result file given");
    format = f;
    pathMap = parsePathMap(parsed2.values["path-map"]);
    json = parsed2.values.json;
    files = parsed2.positionals.map((file) => resolve3(io.cwd, file));
  } catch (error) {
    io.stderr.write(`ovenproof results: ${oneLine(errorMessage(error))}
${HELP.split("\n")[0]}
`);
    return ExitCode.usageError;
  }
  const parsed = await parseResultFiles(files, { format });
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
import { resolve as resolve4 } from "node:path";
import { parseArgs as parseArgs3 } from "node:util";
var HELP2 = `Usage: ovenproof publish --result-json FILE [--sha SHA] [--repo owner/name] [--check-name N]

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

Exit codes: 0 published, 2 GitHub API failure, 3 bad flags or result file.

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
    io.stdout.write(HELP2);
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
  const result = await readRunResult(resolve4(io.cwd, resultPath));
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
    jobSummary: Boolean(io.env.GITHUB_STEP_SUMMARY)
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
  help: HELP2,
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

// src/cli/commands/images.ts
var HELP3 = `Usage: ovenproof images [--provider P] [--json] [QUERY...]

Lists the images ovenproof knows with their manifests: base images and bakes, newest first.
QUERY is an image id or name and/or key=value filters (manifest fields such as os=debian-12,
tags such as ovenproof:kept=true, package:jq=* for "has jq installed").

Options:
  --provider P  local or ec2 (default: local)
  --json        print the manifests as a JSON array on stdout

Examples:
  ovenproof images
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
function makeImagesCommand(createProviderFor) {
  return {
    name: "images",
    summary: "List images and their manifests",
    help: HELP3,
    async run(args, io) {
      const { values, positionals } = parseCommandArgs(
        "images",
        args,
        { provider: { type: "string" }, json: { type: "boolean" } },
        true
      );
      if (values.help) {
        io.stdout.write(HELP3);
        return ExitCode.ok;
      }
      const name = values.provider ?? "local";
      if (name !== "local" && name !== "ec2") {
        throw new ConfigError(`images: --provider "${name}" is not a provider (use local or ec2)`);
      }
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

// src/cli/main.ts
var COMMANDS = [
  runCommand,
  bakeCommand,
  imagesCommand,
  baseCommand,
  resultsCommand,
  sweepCommand,
  publishCommand,
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
