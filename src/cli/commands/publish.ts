/**
 * `ovenproof publish`: posts a finished run's result JSON as one complete check run with its annotations,
 * without running any stage. The fork-safe half of the two-workflow pattern (docs/reporting.md).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, errorMessage, exitCodeOf, ExitCode } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import {
  DEFAULT_API_URL,
  headShaFromEnv,
  publishResult,
  readRunResult,
  workflowFileFromEnv,
} from '../../report/index.js';
import type { CliCommand, CliIo } from '../command.js';

const HELP = `Usage: ovenproof publish --result-json FILE [--sha SHA] [--repo owner/name] [--check-name N]

Posts a finished run (the result JSON of \`ovenproof run --result-json\`) as a complete check run with one
annotation per failing test, without running any stage.

Options:
  --result-json FILE   result JSON to publish (required)
  --sha SHA            commit to attach the check run to; default: the head SHA of the triggering event
                       (workflow_run → workflow_run.head_sha), else GITHUB_SHA, else the result's commit
  --repo owner/name    repository; default GITHUB_REPOSITORY
  --check-name N       check run name; default ovenproof
  -h, --help           show this help

Environment:
  GITHUB_TOKEN         token with checks: write (required)
  GITHUB_API_URL       REST API URL (GitHub Enterprise Server: https://HOST/api/v3); default ${DEFAULT_API_URL}

Exit codes: 0 published, 2 GitHub API failure, 3 bad flags or result file. Without \`checks: write\`
(HTTP 403) the failing tests are printed as workflow-command annotations (\`::error file=…,line=…::\`)
and written to the job summary instead, and the exit code is 2.

Example:
  GITHUB_TOKEN=… ovenproof publish --result-json ovenproof-result.json --sha "$HEAD_SHA" --repo octo/app
`;

const SHA_RE = /^[0-9a-f]{40}([0-9a-f]{24})?$/i;
const REPO_RE = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

function stderrLogger(io: CliIo, secrets: string[]): Logger {
  const redact = (message: string) =>
    secrets.reduce((text, secret) => (secret ? text.split(secret).join('***') : text), message);
  return {
    info: (message) => io.stderr.write(`${redact(message)}\n`),
    warn: (message) => io.stderr.write(`warning: ${redact(message)}\n`),
    debug: (message) => {
      if (io.env.OVENPROOF_DEBUG) io.stderr.write(`debug: ${redact(message)}\n`);
    },
    mask: (secret) => {
      secrets.push(secret);
    },
  };
}

async function publish(args: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        'result-json': { type: 'string' },
        sha: { type: 'string' },
        repo: { type: 'string' },
        'check-name': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new ConfigError(`publish: ${errorMessage(error)}`);
  }
  if (values.help) {
    io.stdout.write(HELP);
    return ExitCode.ok;
  }
  const resultPath = values['result-json'];
  if (!resultPath) throw new ConfigError('publish: --result-json FILE is required');
  const token = io.env.GITHUB_TOKEN;
  if (!token)
    throw new ConfigError('publish: GITHUB_TOKEN is not set (a token with checks: write is needed)');
  const repository = values.repo ?? io.env.GITHUB_REPOSITORY;
  if (!repository)
    throw new ConfigError(
      'publish: --repo owner/name is required outside GitHub Actions (GITHUB_REPOSITORY is not set)',
    );
  if (!REPO_RE.test(repository))
    throw new ConfigError(`publish: --repo "${repository}" is not of the form owner/name`);
  const checkName = values['check-name'] ?? 'ovenproof';
  if (!checkName.trim()) throw new ConfigError('publish: --check-name must not be empty');

  const result = await readRunResult(resolve(io.cwd, resultPath));
  const sha = values.sha ?? (await headShaFromEnv(io.env)) ?? result.commit;
  if (!sha) throw new ConfigError('publish: no commit to attach the check run to: pass --sha SHA');
  if (!SHA_RE.test(sha))
    throw new ConfigError(`publish: --sha "${sha}" is not a full 40-character commit SHA`);

  const [owner, repo] = repository.split('/') as [string, string];
  const secrets: string[] = [];
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
    ...(io.env.GITHUB_SERVER_URL ? { serverUrl: io.env.GITHUB_SERVER_URL } : {}),
    ...(workflowFileFromEnv(io.env) ? { fallbackPath: workflowFileFromEnv(io.env)! } : {}),
    jobSummary: Boolean(io.env.GITHUB_STEP_SUMMARY),
    // Workflow commands are read from stdout by the Actions runner (the 403 fallback).
    commandSink: (line) => io.stdout.write(`${line}\n`),
  });
  io.stderr.write(`published check run "${checkName}" on ${sha} with ${outcome.annotations} annotations\n`);
  if (outcome.checkRunUrl) io.stdout.write(`${outcome.checkRunUrl}\n`);
  return ExitCode.ok;
}

export const publishCommand: CliCommand = {
  name: 'publish',
  summary: 'Post a finished result JSON as a check run (fork-safe workflow_run pattern)',
  help: HELP,
  async run(args, io) {
    try {
      return await publish(args, io);
    } catch (error) {
      io.stderr.write(`ovenproof publish: ${errorMessage(error)}\n`);
      return exitCodeOf(error);
    }
  },
};
