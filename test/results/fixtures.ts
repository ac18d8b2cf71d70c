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

/** Runs a command that is expected to fail (deliberately failing tests) and ignores its exit code. */
async function runner(cmd: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, env: childEnv(), maxBuffer: 64 << 20 });
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; code?: number | string };
    if (typeof e.code === 'string') throw error; // ENOENT etc.: the runner is missing
    return e.stdout ?? '';
  }
}

export interface FixtureRepo {
  /** Git work tree with the fixture projects under `dir/<project>/`, all tracked. */
  dir: string;
}

export async function fixtureRepo(): Promise<FixtureRepo> {
  const dir = await mkdtemp(join(tmpdir(), 'ovenproof-results-'));
  await cp(join(ROOT, 'test/fixtures/results'), dir, { recursive: true });
  await writeFile(join(dir, '.gitignore'), 'node_modules\n*.xml\n*.tap\n__pycache__/\n.pytest_cache/\n');
  await run('git', ['init', '-q', dir]);
  await run('git', ['-C', dir, 'add', '-A']);
  for (const project of ['vitest', 'mocha'])
    await symlink(join(ROOT, 'node_modules'), join(dir, project, 'node_modules'));
  return { dir };
}

export async function runVitest(project: string): Promise<string> {
  await runner(
    join(BIN, 'vitest'),
    ['run', '--config', 'vitest.config.mjs', '--reporter=junit', '--outputFile=junit.xml'],
    project,
  );
  return join(project, 'junit.xml');
}

export async function runMocha(project: string): Promise<string> {
  const out = join(project, 'junit.xml');
  await runner(
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
  return out;
}

export async function runPytest(project: string, family: 'xunit1' | 'xunit2'): Promise<string> {
  const out = join(project, `pytest-${family}.xml`);
  await runner(
    'python3',
    ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-o', `junit_family=${family}`, `--junitxml=${out}`],
    project,
  );
  return out;
}

export async function runBats(project: string): Promise<string> {
  const out = join(project, 'bats.xml');
  await writeFile(out, await runner('bats', ['--formatter', 'junit', 'calc.bats'], project));
  return out;
}

export async function runNodeTap(project: string): Promise<string> {
  const out = join(project, 'node.tap');
  await writeFile(
    out,
    await runner(process.execPath, ['--test', '--test-reporter=tap', 'calc.spec.mjs'], project),
  );
  return out;
}
