/**
 * Test helper: copies the fixture projects of test/fixtures/results into a temp git repository and runs
 * the real test runners there, so every result file is produced at test time.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'node_modules', '.bin');

/** Env for child runners without the outer vitest's own variables. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('VITEST') && key !== 'NODE_OPTIONS' && key !== 'TEST') env[key] = value;
  }
  return { ...env, CI: '1', NO_COLOR: '1' };
}

/** What a runner wrote and how it exited (the fixture suites fail on purpose, so non-zero). */
interface RunnerExit {
  stdout: string;
  exitCode: number;
}

/** A result file written by a real runner, and the runner's own verdict (its exit code). */
export interface RunnerOutput {
  file: string;
  exitCode: number;
}

async function runner(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<RunnerExit> {
  try {
    const { stdout } = await run(cmd, args, { cwd, env: { ...childEnv(), ...env }, maxBuffer: 64 << 20 });
    return { stdout, exitCode: 0 };
  } catch (error) {
    const e = error as { stdout?: string; code?: number | string };
    if (typeof e.code === 'string') throw error; // ENOENT etc.: the runner is missing
    return { stdout: e.stdout ?? '', exitCode: e.code ?? 1 };
  }
}

export interface FixtureRepo {
  /** Git work tree with the fixture projects under `dir/<project>/`, all tracked. */
  dir: string;
}

export async function fixtureRepo(): Promise<FixtureRepo> {
  const dir = await mkdtemp(join(tmpdir(), 'ovenproof-results-'));
  await cp(join(ROOT, 'test/fixtures/results'), dir, { recursive: true });
  await writeFile(
    join(dir, '.gitignore'),
    'node_modules\n*.xml\n*.tap\n__pycache__/\n.pytest_cache/\n.jest-cache/\n',
  );
  await run('git', ['init', '-q', dir]);
  await run('git', ['-C', dir, 'add', '-A']);
  for (const project of ['vitest', 'mocha'])
    await symlink(join(ROOT, 'node_modules'), join(dir, project, 'node_modules'));
  return { dir };
}

export async function runVitest(project: string): Promise<RunnerOutput> {
  const { exitCode } = await runner(
    join(BIN, 'vitest'),
    ['run', '--config', 'vitest.config.mjs', '--reporter=junit', '--outputFile=junit.xml'],
    project,
  );
  return { file: join(project, 'junit.xml'), exitCode };
}

export async function runMocha(project: string): Promise<RunnerOutput> {
  const out = join(project, 'junit.xml');
  const { exitCode } = await runner(
    join(BIN, 'mocha'),
    [
      '--reporter',
      'mocha-junit-reporter',
      '--reporter-options',
      `mochaFile=${out},includePending=true`,
      'calc.spec.mjs',
    ],
    project,
  );
  return { file: out, exitCode };
}

export async function runPytest(project: string, family: 'xunit1' | 'xunit2'): Promise<RunnerOutput> {
  const out = join(project, `pytest-${family}.xml`);
  const { exitCode } = await runner(
    'python3',
    ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-o', `junit_family=${family}`, `--junitxml=${out}`],
    project,
  );
  return { file: out, exitCode };
}

export async function runBats(project: string, formatter: 'junit' | 'tap'): Promise<RunnerOutput> {
  const out = join(project, `bats.${formatter === 'junit' ? 'xml' : 'tap'}`);
  const { stdout, exitCode } = await runner('bats', ['--formatter', formatter, 'calc.bats'], project);
  await writeFile(out, stdout);
  return { file: out, exitCode };
}

export async function runNodeTest(project: string, reporter: 'tap' | 'junit'): Promise<RunnerOutput> {
  const out = join(project, `node.${reporter === 'junit' ? 'xml' : 'tap'}`);
  const { exitCode } = await runner(
    process.execPath,
    ['--test', `--test-reporter=${reporter}`, `--test-reporter-destination=${out}`, 'calc.spec.mjs'],
    project,
  );
  return { file: out, exitCode };
}

export async function runJest(project: string): Promise<RunnerOutput> {
  const out = join(project, 'junit.xml');
  const env = { JEST_JUNIT_OUTPUT_DIR: project, JEST_JUNIT_OUTPUT_NAME: 'junit.xml' };
  const { exitCode } = await runner(
    join(BIN, 'jest'),
    [
      '--ci',
      '--config',
      'jest.config.cjs',
      '--reporters=default',
      `--reporters=${join(ROOT, 'node_modules', 'jest-junit')}`,
      `--cacheDirectory=${join(project, '.jest-cache')}`,
    ],
    project,
    env,
  );
  return { file: out, exitCode };
}

/** `prove -v` prints its own lines around the test's TAP; `--merge` adds Test::More's diagnostics. */
export async function runProve(project: string): Promise<RunnerOutput> {
  const out = join(project, 'prove.tap');
  const { stdout, exitCode } = await runner('prove', ['-v', '--merge', 't/calc.t'], project);
  await writeFile(out, stdout);
  return { file: out, exitCode };
}
