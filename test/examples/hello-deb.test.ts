import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseStringPromise } from 'xml2js';
import { parse as parseYaml } from 'yaml';
import { loadCliConfig } from '../../src/cli/config-loader.js';
import { findPackageFiles } from '../../src/pipeline/stages/build.js';

// The example project is built and its Bats suite run for real, on the host: the package is unpacked
// into a temporary root instead of being installed, so no VM and no root are needed.

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const projectDir = path.join(repoRoot, 'examples/hello-deb');
const workflowsDir = path.join(repoRoot, 'examples/workflows');

/** Every key of SPEC §2.1: Action inputs and ovenproof.yml keys are the same set. */
const SPEC_KEYS = new Set([
  'provider',
  'build',
  'package',
  'packages',
  'base-image',
  'bake-strategy',
  'baker-url',
  'baker-token',
  'instance-type',
  'region',
  'subnet-id',
  'security-group-id',
  'ssh-cidr',
  'spot',
  'ssh-user',
  'test',
  'results',
  'path-map',
  'test-timeout',
  'ttl',
  'keep-image',
  'keep-instance',
  'snapshot-on-failure',
  'failure-snapshot-ttl',
  'github-token',
  'check-name',
  'publish-result',
]);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program without a shell; a non-zero exit is a result to check, not an exception. */
function run(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<Run>((resolve, reject) => {
    execFile(file, args, { ...options, encoding: 'utf8', maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

interface JUnitCase {
  suite: string;
  name: string;
  failure: string | null;
}

async function readJUnit(file: string): Promise<JUnitCase[]> {
  type Failure = string | { _?: string };
  type Case = { $: { classname: string; name: string }; failure?: Failure[] };
  const xml = (await parseStringPromise(await readFile(file, 'utf8'))) as {
    testsuites: { testsuite: { $: { name: string }; testcase?: Case[] }[] };
  };
  return xml.testsuites.testsuite.flatMap((suite) =>
    (suite.testcase ?? []).map((c) => {
      const failure = c.failure?.[0];
      return {
        suite: suite.$.name,
        name: c.$.name,
        failure: failure === undefined ? null : typeof failure === 'string' ? failure : (failure._ ?? ''),
      };
    }),
  );
}

/** `@test` blocks per .bats file of the source tree: what a complete report must list. */
async function sourceTests(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const file of (await readdir(path.join(projectDir, 'tests'))).filter((f) => f.endsWith('.bats'))) {
    const text = await readFile(path.join(projectDir, 'tests', file), 'utf8');
    counts.set(file, text.match(/^@test /gm)?.length ?? 0);
  }
  return counts;
}

async function readYaml(file: string): Promise<Record<string, unknown>> {
  return parseYaml(await readFile(file, 'utf8')) as Record<string, unknown>;
}

let scratch: string;
let deb: string;
let config: Record<string, string>;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'hello-deb-test-'));
  config = (await readYaml(path.join(projectDir, 'ovenproof.yml'))) as Record<string, string>;
  // The build as ovenproof runs it: the config's `build` in the config file's directory.
  const build = await run('sh', ['-c', String(config.build)], { cwd: projectDir });
  expect(build.stderr).toBe('');
  expect(build.code).toBe(0);
  deb = path.resolve(projectDir, build.stdout.trim());
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('examples/hello-deb build', () => {
  it('writes exactly one .deb under build/, matching the `package` glob of ovenproof.yml', async () => {
    expect(path.dirname(deb)).toBe(path.join(projectDir, 'build'));
    expect(config.package).toBe('build/*.deb');
    const debs = (await readdir(path.join(projectDir, 'build'))).filter((f) => f.endsWith('.deb'));
    expect(debs).toEqual([path.basename(deb)]);
  });

  it('declares Depends: bats, so the bake installs the test runner from the distribution', async () => {
    const info = await run('dpkg-deb', ['--info', deb]);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/^ Package: hello-deb$/m);
    expect(info.stdout).toMatch(/^ Depends: bats$/m);
    expect(info.stdout).toMatch(/^ Architecture: all$/m);
    expect(info.stdout).toMatch(/^ Installed-Size: [1-9]\d*$/m);
    const version = /^ Version: (\S+)$/m.exec(info.stdout)?.[1];
    expect(path.basename(deb)).toBe(`hello-deb_${version}_all.deb`);
  });

  it('installs the tool, run-tests and every tests/*.bats where stated, owned by root', async () => {
    const contents = await run('dpkg-deb', ['--contents', deb]);
    expect(contents.code).toBe(0);
    const entries = new Map(
      contents.stdout
        .trim()
        .split('\n')
        .map((line) => {
          const [mode = '', owner = '', , , , name = ''] = line.split(/\s+/);
          return [name.replace(/^\./, ''), { mode, owner }] as const;
        }),
    );
    expect(entries.get('/usr/bin/hello-deb')?.mode).toBe('-rwxr-xr-x');
    expect(entries.get('/usr/share/hello-deb/run-tests')?.mode).toBe('-rwxr-xr-x');
    for (const file of (await sourceTests()).keys()) {
      expect(entries.get(`/usr/share/hello-deb/tests/${file}`)?.mode).toBe('-rw-r--r--');
    }
    expect([...entries.values()].every((e) => e.owner === 'root/root')).toBe(true);
    // The config's test command and path-map point at what the package installs.
    expect(entries.has(config.test ?? '')).toBe(true);
    const [instancePrefix, repoPrefix] = String(config['path-map']).split('=');
    expect(instancePrefix).toBe('/usr/share/hello-deb/tests');
    expect(repoPrefix).toBe('tests');
  });

  it('is reproducible: the same sources give a byte-identical package (the bake key hashes it)', async () => {
    const first = await run(path.join(projectDir, 'build.sh'), [path.join(scratch, 'out-1')]);
    const second = await run(path.join(projectDir, 'build.sh'), [path.join(scratch, 'out-2')]);
    expect([first.code, second.code]).toEqual([0, 0]);
    const [a, b, original] = await Promise.all([
      sha256(first.stdout.trim()),
      sha256(second.stdout.trim()),
      sha256(deb),
    ]);
    expect(b).toBe(a);
    expect(original).toBe(a);
  });
});

describe('examples/hello-deb test suite, run from the unpacked package', () => {
  let root: string;
  let resultsDir: string;

  beforeAll(async () => {
    root = path.join(scratch, 'root');
    const extract = await run('dpkg-deb', ['-x', deb, root]);
    expect(extract.code).toBe(0);
  });

  /** run-tests as the instance runs it, with the unpacked tool first on PATH. */
  async function runTests(extraEnv: NodeJS.ProcessEnv): Promise<Run> {
    resultsDir = await mkdtemp(path.join(scratch, 'results-'));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${root}/usr/bin:${process.env.PATH ?? ''}`,
      HELLO_DEB_RESULTS_DIR: resultsDir,
      ...extraEnv,
    };
    if (!('HELLO_DEB_FAIL' in extraEnv)) delete env.HELLO_DEB_FAIL;
    return run(path.join(root, 'usr/share/hello-deb/run-tests'), [], { env });
  }

  it('passes every test and writes a complete JUnit XML report', async () => {
    const result = await runTests({});
    expect(result.stdout).not.toMatch(/^not ok/m);
    expect(result.code).toBe(0);

    const cases = await readJUnit(path.join(resultsDir, 'junit.xml'));
    const expected = await sourceTests();
    const perSuite = new Map<string, number>();
    for (const c of cases) perSuite.set(c.suite, (perSuite.get(c.suite) ?? 0) + 1);
    expect(perSuite).toEqual(expected);
    expect(cases.filter((c) => c.failure !== null)).toEqual([]);
    // The results glob of ovenproof.yml is the directory run-tests writes to by default.
    const script = await readFile(path.join(projectDir, 'run-tests'), 'utf8');
    const defaultDir = /HELLO_DEB_RESULTS_DIR:-([^}]+)\}/.exec(script)?.[1];
    expect(config.results).toBe(`${defaultDir}/*.xml`);
  });

  it('HELLO_DEB_FAIL=1 fails exactly one test, located at its .bats file and line', async () => {
    const result = await runTests({ HELLO_DEB_FAIL: '1' });
    expect(result.code).toBe(1);
    expect(result.stdout.match(/^not ok/gm)).toHaveLength(1);

    const cases = await readJUnit(path.join(resultsDir, 'junit.xml'));
    expect(cases).toHaveLength([...(await sourceTests()).values()].reduce((a, b) => a + b, 0));
    const failed = cases.filter((c) => c.failure !== null);
    expect(failed).toHaveLength(1);
    const [failure] = failed;
    expect(failure?.suite).toBe('greet.bats');
    expect(failure?.name).toBe('greets a name given on the command line');

    const location = /\(in test file (\S+), line (\d+)\)/.exec(failure?.failure ?? '');
    expect(location, failure?.failure ?? '').not.toBeNull();
    const [, instanceFile = '', line = ''] = location ?? [];
    // On the instance the file is /usr/share/hello-deb/tests/greet.bats; here it sits under `root`.
    expect(instanceFile).toBe(path.join(root, 'usr/share/hello-deb/tests/greet.bats'));
    const onInstance = instanceFile.slice(root.length);
    const [instancePrefix = '', repoPrefix = ''] = String(config['path-map']).split('=');
    expect(onInstance.startsWith(`${instancePrefix}/`)).toBe(true);
    const repoFile = path.join(projectDir, repoPrefix, onInstance.slice(instancePrefix.length + 1));
    expect(path.relative(repoRoot, repoFile)).toBe('examples/hello-deb/tests/greet.bats');
    // The reported line is the assertion that compares against the switched expectation.
    const sourceLine = (await readFile(repoFile, 'utf8')).split('\n')[Number(line) - 1];
    expect(sourceLine?.trim()).toBe('[ "$output" = "$expected" ]');
  });

  it('waits for a report writer that outlives bats (bats 1.8 does not wait for its reporter)', async () => {
    // A stand-in for bats that behaves like its --report-formatter: the end of the report is written
    // by a process that outlives bats, holding bats' stderr. The sleep only makes that writer late.
    const fakeBin = await mkdtemp(path.join(scratch, 'fake-bats-'));
    await writeFile(
      path.join(fakeBin, 'bats'),
      [
        '#!/bin/sh',
        'while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done',
        'echo "<testsuites>" >"$out/report.xml"',
        '(sleep 1; echo "</testsuites>") >>"$out/report.xml" &',
        'exit 1',
      ].join('\n'),
      { mode: 0o755 },
    );
    resultsDir = await mkdtemp(path.join(scratch, 'results-'));
    const result = await run(
      'sh',
      [
        '-c',
        '"$1" >/dev/null 2>&1; echo "exit=$?"; cat "$2/junit.xml"',
        'sh',
        path.join(projectDir, 'run-tests'),
        resultsDir,
      ],
      {
        env: {
          ...process.env,
          PATH: `${fakeBin}:${process.env.PATH ?? ''}`,
          HELLO_DEB_RESULTS_DIR: resultsDir,
        },
      },
    );
    expect(result.stdout).toBe('exit=1\n<testsuites>\n</testsuites>\n');
  });
});

describe('example workflows', () => {
  type Step = { uses?: string; run?: string; if?: string; with?: Record<string, string> };
  type Job = { if?: string; steps: Step[] };
  type Workflow = {
    name: string;
    on: Record<string, Record<string, unknown> | null>;
    permissions: Record<string, string>;
    jobs: Record<string, Job>;
  };
  const steps = (wf: Workflow) => Object.values(wf.jobs).flatMap((job) => job.steps);
  const ovenproofSteps = (wf: Workflow) => steps(wf).filter((s) => s.uses === 'ovenproof/ovenproof@v1');

  let main: Workflow;
  let publisher: Workflow;
  beforeAll(async () => {
    main = (await readYaml(path.join(workflowsDir, 'ovenproof.yml'))) as unknown as Workflow;
    publisher = (await readYaml(path.join(workflowsDir, 'publish-fork-results.yml'))) as unknown as Workflow;
  });

  it('ovenproof.yml has exactly the push, pull_request, workflow_dispatch and workflow_run triggers', () => {
    expect(Object.keys(main.on).sort()).toEqual([
      'pull_request',
      'push',
      'workflow_dispatch',
      'workflow_run',
    ]);
    expect(main.on.workflow_run).toMatchObject({ workflows: ['CI'], types: ['completed'] });
    const inputs = Object.keys((main.on.workflow_dispatch?.inputs ?? {}) as object);
    expect(inputs.length).toBeGreaterThan(0);
    expect(inputs.filter((name) => !SPEC_KEYS.has(name))).toEqual([]);
    expect(main.permissions).toEqual({ contents: 'read', checks: 'write', 'id-token': 'write' });
  });

  it('ovenproof.yml reacts only to successful CI runs and tests the commit CI approved', () => {
    const [job] = Object.values(main.jobs);
    expect(job?.if).toContain("github.event.workflow_run.conclusion == 'success'");
    const checkout = steps(main).find((s) => s.uses?.startsWith('actions/checkout@'));
    expect(checkout?.with?.ref).toBe('${{ github.event.workflow_run.head_sha }}');
  });

  it('ovenproof.yml passes only SPEC §2.1 inputs, the dispatch inputs among them, and uploads the result', () => {
    const [step] = ovenproofSteps(main);
    const withKeys = Object.keys(step?.with ?? {});
    expect(withKeys.filter((key) => !SPEC_KEYS.has(key))).toEqual([]);
    expect(withKeys).toContain('test');
    for (const input of Object.keys((main.on.workflow_dispatch?.inputs ?? {}) as object)) {
      expect(step?.with?.[input]).toBe(`\${{ inputs.${input} }}`);
    }
    const upload = steps(main).find((s) => s.uses?.startsWith('actions/upload-artifact@'));
    expect(upload?.if).toContain('always()');
    expect(upload?.with?.name).toBe('ovenproof-result');
  });

  it('publish-fork-results.yml publishes the triggering run\u2019s artifact without running its code', () => {
    expect(Object.keys(publisher.on)).toEqual(['workflow_run']);
    expect(publisher.on.workflow_run).toMatchObject({ workflows: [main.name], types: ['completed'] });
    expect(publisher.permissions.checks).toBe('write');
    expect(steps(publisher).some((s) => s.uses?.startsWith('actions/checkout@'))).toBe(false);

    const download = steps(publisher).find((s) => s.uses?.startsWith('actions/download-artifact@'));
    expect(download?.with).toMatchObject({
      name: 'ovenproof-result',
      'run-id': '${{ github.event.workflow_run.id }}',
    });
    const [publish] = ovenproofSteps(publisher);
    const withKeys = Object.keys(publish?.with ?? {});
    expect(withKeys.filter((key) => !SPEC_KEYS.has(key))).toEqual([]);
    expect(publish?.with?.['publish-result']).toBe(`${download?.with?.path}/result.json`);
    // The file name the main workflow uploads under.
    const upload = steps(main).find((s) => s.uses?.startsWith('actions/upload-artifact@'));
    expect(path.posix.basename(upload?.with?.path ?? '')).toBe('result.json');
  });

  it('every action used is pinned to a version', () => {
    for (const step of [...steps(main), ...steps(publisher)].filter((s) => s.uses)) {
      expect(step.uses).toMatch(/^[\w.-]+\/[\w.-]+@v\d+$/);
    }
  });
});

describe('examples/hello-deb/ovenproof.yml', () => {
  it('resolves through the real config loader, with the demo\u2019s failing-test override', async () => {
    const resolved = await loadCliConfig(
      {
        config: 'examples/hello-deb/ovenproof.yml',
        set: ['test=HELLO_DEB_FAIL=1 /usr/share/hello-deb/run-tests'],
      },
      repoRoot,
      ['test'],
    );
    expect(resolved).toMatchObject({
      provider: 'local',
      build: './build.sh',
      projectDir: projectDir,
      test: 'HELLO_DEB_FAIL=1 /usr/share/hello-deb/run-tests',
      results: ['/var/tmp/hello-deb/results/*.xml'],
      pathMap: [{ from: '/usr/share/hello-deb/tests', to: 'tests' }],
      sshUser: 'root',
      testTimeoutMs: 5 * 60_000,
      ttlMs: 30 * 60_000,
    });
    // The pipeline's own package lookup finds exactly the package the build wrote.
    expect(await findPackageFiles(resolved.package, resolved.projectDir)).toEqual([deb]);
  });

  it('uses only SPEC §2.1 keys, with the values of the example', () => {
    expect(Object.keys(config).filter((key) => !SPEC_KEYS.has(key))).toEqual([]);
    expect(config).toEqual({
      provider: 'local',
      build: './build.sh',
      package: 'build/*.deb',
      test: '/usr/share/hello-deb/run-tests',
      results: '/var/tmp/hello-deb/results/*.xml',
      'path-map': '/usr/share/hello-deb/tests=tests',
      'ssh-user': 'root',
      'test-timeout': '5m',
      ttl: '30m',
    });
  });
});
