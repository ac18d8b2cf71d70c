import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); const __filename = __opFileURLToPath(import.meta.url); const __dirname = __opDirname(__filename);
import {
  actionsLogger,
  saveLedgerPath
} from "./chunks/chunk-K47TH7J7.js";
import {
  ConsoleReporter,
  DEFAULT_API_URL,
  PipelineEvents,
  abortOnSignals,
  context,
  executePipeline,
  headShaFor,
  publishResult,
  readRunResult,
  startCheckRun,
  writeResultJson
} from "./chunks/chunk-ZDTHCUO6.js";
import {
  CONFIG_KEY_NAMES,
  error,
  getInput,
  readConfigFile,
  resolveConfig,
  setFailed,
  setOutput,
  setSecret
} from "./chunks/chunk-HGUMNCOH.js";
import "./chunks/chunk-VLLWPT5D.js";
import "./chunks/chunk-5ULZFXIM.js";
import "./chunks/chunk-D6AMY7HW.js";
import {
  ExitCode,
  errorMessage,
  exitCodeOf
} from "./chunks/chunk-DDK2HIRZ.js";
import "./chunks/chunk-KZMJUW2X.js";

// src/action/main.ts
import { join as join2, dirname } from "node:path";
import { tmpdir } from "node:os";

// src/action/inputs.ts
import { existsSync } from "node:fs";
import { join } from "node:path";
async function readActionConfig(workspace, required) {
  const inputs = {};
  for (const key of CONFIG_KEY_NAMES) {
    const value = getInput(key);
    if (value !== "") inputs[key] = value;
  }
  for (const secret of [inputs["github-token"], inputs["baker-token"]]) if (secret) setSecret(secret);
  const path = join(workspace, "ovenproof.yml");
  const file = existsSync(path) ? await readConfigFile(path) : void 0;
  const config = resolveConfig({ inputs, file }, { entry: "action", projectDir: workspace, required });
  for (const secret of [config.githubToken, config.bakerToken]) if (secret) setSecret(secret);
  return config;
}

// src/action/main.ts
function checkRunOptions(token, sha, name) {
  const { owner, repo } = context.repo;
  const serverUrl = process.env.GITHUB_SERVER_URL ?? "https://github.com";
  const runId = process.env.GITHUB_RUN_ID;
  return {
    token,
    apiUrl: process.env.GITHUB_API_URL ?? DEFAULT_API_URL,
    owner,
    repo,
    sha,
    name,
    serverUrl,
    ...runId ? { detailsUrl: `${serverUrl}/${owner}/${repo}/actions/runs/${runId}` } : {},
    log: actionsLogger
  };
}
async function run() {
  const workspace = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const token = getInput("github-token") || process.env.GITHUB_TOKEN || "";
  if (token) setSecret(token);
  const { eventName, payload } = context;
  const headSha = headShaFor(eventName, payload, context.sha);
  const publishPath = getInput("publish-result");
  if (publishPath) {
    const config2 = await readActionConfig(workspace, []);
    const result = await readRunResult(publishPath);
    const outcome = await publishResult(result, checkRunOptions(token, headSha, config2.checkName));
    setOutput("check-run-url", outcome.checkRunUrl ?? "");
    setOutput("tests-total", String(result.tests.total));
    setOutput("tests-failed", String(result.tests.failed));
    return ExitCode.ok;
  }
  const config = await readActionConfig(workspace, ["test"]);
  const events = new PipelineEvents();
  const consoleReporter = new ConsoleReporter(process.stdout, { tty: false, groups: true });
  events.subscribe((event) => consoleReporter.onEvent(event));
  const reporter = await startCheckRun(checkRunOptions(token, headSha, config.checkName));
  events.subscribe((event) => reporter.onEvent(event));
  const signals = abortOnSignals(actionsLogger);
  try {
    const outcome = await executePipeline({
      config,
      mode: "run",
      events,
      log: actionsLogger,
      signal: signals.signal,
      env: process.env,
      commit: headSha,
      repository: `${context.repo.owner}/${context.repo.repo}`,
      tempRoot: process.env.RUNNER_TEMP ?? tmpdir(),
      onLedger: saveLedgerPath
    });
    const { result } = outcome;
    const report = await reporter.finish(result, {
      ...outcome.buildLogTail ? { buildLogTail: outcome.buildLogTail } : {},
      ...outcome.interrupted ? { conclusion: outcome.interrupted } : {}
    });
    result.annotations = report.annotations;
    const resultPath = join2(dirname(outcome.ledgerPath), "result.json");
    await writeResultJson(resultPath, result);
    setOutput("image-id", result.image?.id ?? "");
    setOutput("bake-cache-hit", String(result.image?.cacheHit ?? false));
    setOutput("instance-id", result.instance?.id ?? "");
    setOutput("tests-total", String(result.tests.total));
    setOutput("tests-failed", String(result.tests.failed));
    setOutput("check-run-url", report.checkRunUrl ?? "");
    setOutput("result-json", resultPath);
    if (result.status === "failed")
      error(`${result.tests.failed} of ${result.tests.total} tests failed`);
    if (result.error) error(`${result.error.stage} failed: ${result.error.message}`);
    return outcome.exitCode;
  } finally {
    signals.dispose();
  }
}
try {
  process.exitCode = await run();
} catch (error2) {
  setFailed(errorMessage(error2));
  process.exitCode = exitCodeOf(error2);
}
setTimeout(() => process.exit(), 2e3).unref();
//# sourceMappingURL=index.js.map
