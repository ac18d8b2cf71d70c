import { relative, resolve } from 'node:path';
import type { Step } from '../../common/steps.js';
import { parseResultFiles, summarizeResults } from '../../results/index.js';
import type { RunState } from './state.js';

/** Parses the fetched result files into the test summary; a failed command always counts as a failure. */
export const reportStage: Step<RunState> = {
  name: 'report',
  run: async (s) => summarize(s),
};

async function summarize(s: RunState): Promise<void> {
  const { deps } = s;
  const { config, log } = deps;
  const parsed = await parseResultFiles(s.resultFiles, { strict: config.resultsStrict });
  for (const problem of parsed.problems) log.warn(`${problem.source}: ${problem.message}`);
  // path-map targets are written relative to the project (the directory of ovenproof.yml); the
  // results module maps onto repository-relative paths.
  const repoRoot = deps.repoRoot;
  const pathMap = config.pathMap.map(({ from, to }) => ({
    from,
    to: repoRoot ? relative(repoRoot, resolve(config.projectDir, to)) || '.' : to,
  }));
  s.tests = await summarizeResults(parsed, { pathMap, repoRoot });
  if (s.tests.failed > 0) s.testsFailed = true;
  if (s.testsFailed && s.tests.failed === 0) {
    // The command failed but no result file names a failing test: still one visible failure.
    s.tests = {
      ...s.tests,
      total: s.tests.total + 1,
      failed: 1,
      failures: [
        {
          name: 'test command',
          suite: '',
          file: null,
          line: null,
          message: `the test command failed: ${config.test}`,
          details: 'The command exited non-zero and its result files report no failing test.',
        },
      ],
    };
  }
  s.succeeded = !s.testsFailed;
  log.info(
    `tests: ${s.tests.total} total, ${s.tests.passed} passed, ${s.tests.failed} failed, ${s.tests.skipped} skipped`,
  );
}
