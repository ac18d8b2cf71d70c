import { resolve } from 'node:path';
import { writeFile } from 'node:fs/promises';
import type { CliCommand, CliIo } from '../command.js';
import { CONFIG_OPTIONS, loadCliConfig } from '../config-loader.js';
import { parseCommandArgs } from '../args.js';
import { createStderrLogger } from '../logger.js';
import { formatFinalReport } from '../final-report.js';
import { ExitCode } from '../../common/errors.js';
import { PipelineEvents } from '../../pipeline/events.js';
import { executePipeline, removeWorkDirIfClean, writeResultJson } from '../../pipeline/execute.js';
import { ConsoleReporter, renderJobSummary } from '../../report/index.js';

function consoleEvents(io: CliIo): PipelineEvents {
  const events = new PipelineEvents();
  const tty = Boolean((io.stderr as NodeJS.WriteStream).isTTY);
  const reporter = new ConsoleReporter(io.stderr, { tty });
  events.subscribe((event) => reporter.onEvent(event));
  return events;
}

export const runCommand: CliCommand = {
  name: 'run',
  summary: 'Build, bake, launch, test over SSH, report and tear down (the whole pipeline)',
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
    const { values } = parseCommandArgs('run', args, {
      ...CONFIG_OPTIONS,
      'result-json': { type: 'string' },
      summary: { type: 'string' },
      verbose: { type: 'boolean' },
    });
    if (values.help) {
      io.stdout.write(this.help);
      return ExitCode.ok;
    }
    const config = await loadCliConfig(values, io.cwd, ['test']);
    const log = createStderrLogger(io.stderr, { verbose: values.verbose });
    const outcome = await executePipeline({
      config,
      mode: 'run',
      events: consoleEvents(io),
      log,
      signal: io.signal,
      env: io.env,
    });
    const { result } = outcome;
    io.stderr.write(formatFinalReport(result));
    if (values['result-json']) {
      const path = resolve(io.cwd, values['result-json']);
      await writeResultJson(path, result);
      log.info(`result JSON: ${path}`);
    }
    if (values.summary) {
      const path = resolve(io.cwd, values.summary);
      const markdown = renderJobSummary(result, {
        serverUrl: io.env.GITHUB_SERVER_URL ?? 'https://github.com',
        repository: io.env.GITHUB_REPOSITORY ?? 'local/repository',
        sha: result.commit,
      });
      await writeFile(path, markdown);
      log.info(`job summary: ${path}`);
    }
    await removeWorkDirIfClean(outcome);
    return outcome.exitCode;
  },
};

export const bakeCommand: CliCommand = {
  name: 'bake',
  summary: 'Build the package and bake an image with it (or reuse an identical bake)',
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
    const { values } = parseCommandArgs('bake', args, {
      ...CONFIG_OPTIONS,
      json: { type: 'boolean' },
      verbose: { type: 'boolean' },
    });
    if (values.help) {
      io.stdout.write(this.help);
      return ExitCode.ok;
    }
    const config = await loadCliConfig(values, io.cwd, []);
    const log = createStderrLogger(io.stderr, { verbose: values.verbose });
    const outcome = await executePipeline({
      config,
      mode: 'bake',
      events: consoleEvents(io),
      log,
      signal: io.signal,
      env: io.env,
    });
    const { result } = outcome;
    if (values.json && result.image) {
      io.stdout.write(
        `${JSON.stringify({ ...result.image, durationsMs: outcome.bake?.durationsMs ?? {} }, null, 2)}\n`,
      );
    }
    await removeWorkDirIfClean(outcome);
    if (result.error) {
      io.stderr.write(`ovenproof: bake failed in ${result.error.stage}: ${result.error.message}\n`);
      return outcome.exitCode;
    }
    if (!values.json && result.image) {
      io.stderr.write(`image: ${result.image.id}${result.image.cacheHit ? ' (bake cache hit)' : ''}\n`);
    }
    return ExitCode.ok;
  },
};
