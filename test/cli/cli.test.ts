import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger } from '../../src/pipeline/ledger.js';
// @ts-expect-error: plain ESM script without type declarations
import { parseFileCommands } from '../../script/run-action.mjs';

const cli = (args: string[], cwd = process.cwd()) =>
  spawnSync(process.execPath, [join(process.cwd(), 'dist/cli.js'), ...args], { cwd, encoding: 'utf8' });

describe('ovenproof CLI (dist/cli.js)', () => {
  it('--help lists every subcommand of SPEC §2.2', () => {
    const { status, stdout } = cli(['--help']);
    expect(status).toBe(0);
    for (const command of ['run', 'bake', 'images', 'base', 'results', 'sweep', 'publish', 'bakery']) {
      expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
  });

  it('every subcommand has --help with usage and examples', () => {
    for (const command of ['run', 'bake', 'images', 'base', 'results', 'sweep', 'publish', 'bakery']) {
      const { status, stdout } = cli([command, '--help']);
      expect(status, command).toBe(0);
      expect(stdout, command).toMatch(/Usage: ovenproof /);
      expect(stdout, command).toMatch(/Example/);
    }
  });

  it('run --set test= exits 3 naming the key', () => {
    const { status, stderr } = cli(['run', '--set', 'test=']);
    expect(status).toBe(3);
    expect(stderr).toMatch(/\btest: must not be empty/);
  });

  it('an ovenproof.yml with a misspelt key exits 3 suggesting the right one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-cli-'));
    await writeFile(join(dir, 'ovenproof.yml'), 'tset: x\n');
    const { status, stderr } = cli(['run'], dir);
    expect(status).toBe(3);
    expect(stderr).toMatch(/unknown key "tset" \(did you mean "test"\?\)/);
  });

  it('rejects unknown commands and flags with exit 3', () => {
    expect(cli(['frobnicate']).status).toBe(3);
    const bad = cli(['run', '--no-such-flag']);
    expect(bad.status).toBe(3);
    expect(bad.stderr).toMatch(/no-such-flag/);
    expect(cli([]).status).toBe(3);
  });

  it('a config mistake found during the run (a malformed base-image filter) still exits 3', () => {
    const { status, stderr } = cli([
      'bake',
      '--config',
      'examples/hello-deb/ovenproof.yml',
      '--set',
      'base-image=os=debian,junk',
    ]);
    expect(stderr).toMatch(/base-image: "junk" .*is not a key=value filter/);
    expect(status).toBe(3);
  });

  it('bakery serve without any credential source exits 3 with a one-line message', () => {
    const { status, stderr, stdout } = cli(['bakery', 'serve']);
    expect(status).toBe(3);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/--token-file/);
  });
});

describe('the Action post step', () => {
  it('after SIGKILL of the main process, dist/post.js deletes what the ledger shows as live', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-post-'));
    const stateFile = join(dir, 'github-state');
    await writeFile(stateFile, '');
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/runner-child.ts', dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, GITHUB_STATE: stateFile },
    });
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()),
    );
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));

    // Killed: no cleanup ran, every resource is still there and live in the ledger.
    const resources = ['first', 'second', 'third'].map((n) => join(dir, `${n}.resource`));
    expect(resources.every((p) => existsSync(p))).toBe(true);
    expect((await Ledger.open(join(dir, 'ledger.json'))).live()).toHaveLength(3);

    const state = parseFileCommands(await readFile(stateFile, 'utf8')) as Record<string, string>;
    const env: NodeJS.ProcessEnv = { ...process.env, GITHUB_ACTIONS: 'true' };
    for (const [name, value] of Object.entries(state)) env[`STATE_${name}`] = value;
    const post = spawnSync(process.execPath, ['dist/post.js'], { env, encoding: 'utf8' });
    expect(post.status, post.stdout + post.stderr).toBe(0);
    expect(post.stdout).toMatch(/3 resource\(s\) still live/);
    expect(resources.some((p) => existsSync(p))).toBe(false);
    const ledger = await Ledger.open(join(dir, 'ledger.json'));
    expect(ledger.live()).toEqual([]);
    expect(ledger.entries().every((e) => e.state === 'deleted' && e.deletedAt)).toBe(true);
  });

  it('without a saved ledger the post step has nothing to do and succeeds', () => {
    const post = spawnSync(process.execPath, ['dist/post.js'], {
      env: { ...process.env, GITHUB_ACTIONS: 'true' },
      encoding: 'utf8',
    });
    expect(post.status).toBe(0);
    expect(post.stdout).toMatch(/nothing to clean up/);
  });
});
