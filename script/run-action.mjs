#!/usr/bin/env node
// Runs the bundled Action (dist/index.js, then dist/post.js) the way the GitHub runner does: inputs
// as INPUT_* variables, the event payload in GITHUB_EVENT_PATH, and GITHUB_OUTPUT, GITHUB_STATE and
// GITHUB_STEP_SUMMARY files; the post step gets the saved state as STATE_* variables.
//
//   script/run-action.mjs --input test=/usr/share/app/run-tests --input provider=local \
//     [--event push] [--event-path payload.json] [--workspace DIR] [--no-post]
//
// Also imported by the end-to-end tests (runAction).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Parses the runner's file-command format: `name<<DELIMITER\nvalue\nDELIMITER`. */
export function parseFileCommands(text) {
  const values = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^=<]+)<<(.+)$/.exec(lines[i]);
    if (m) {
      const [, name, delimiter] = m;
      const value = [];
      for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i]);
      values[name] = value.join('\n');
    } else if (lines[i].includes('=')) {
      const eq = lines[i].indexOf('=');
      values[lines[i].slice(0, eq)] = lines[i].slice(eq + 1);
    }
  }
  return values;
}

function runNode(script, env, options = {}) {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [script], {
      env,
      cwd: env.GITHUB_WORKSPACE,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      options.onStdout?.(d.toString());
    });
    child.stderr.on('data', (d) => options.onStderr?.(d.toString()));
    options.onSpawn?.(child);
    child.on('exit', (code, signal) => resolvePromise({ code, signal, stdout }));
  });
}

/**
 * Runs main (and post unless `post: false`). Returns exit codes, outputs, state and summary.
 * `onMainSpawn(child)` lets a test signal or kill the main process. Both steps run the bundles in dist/.
 */
export async function runAction({
  inputs = {},
  eventName = 'push',
  eventPath,
  workspace = process.cwd(),
  env = {},
  post = true,
  onMainSpawn,
  onStdout,
  onStderr,
} = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'ovenproof-action-'));
  const files = {
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STATE: join(dir, 'state'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
    GITHUB_ENV: join(dir, 'env'),
    GITHUB_PATH: join(dir, 'path'),
  };
  for (const path of Object.values(files)) await writeFile(path, '');
  if (!eventPath) {
    eventPath = join(dir, 'event.json');
    await writeFile(eventPath, JSON.stringify({}));
  }
  const base = {
    ...process.env,
    GITHUB_ACTIONS: 'true',
    GITHUB_EVENT_NAME: eventName,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_WORKSPACE: workspace,
    RUNNER_TEMP: join(dir, 'runner-temp'),
    GITHUB_REPOSITORY: process.env.GITHUB_REPOSITORY ?? 'local/repository',
    GITHUB_SERVER_URL: process.env.GITHUB_SERVER_URL ?? 'https://github.com',
    ...files,
    ...env,
  };
  for (const [name, value] of Object.entries(inputs)) base[`INPUT_${name.toUpperCase()}`] = value;
  const entries = { main: join(root, 'dist/index.js'), post: join(root, 'dist/post.js') };
  const main = await runNode(entries.main, base, { onSpawn: onMainSpawn, onStdout, onStderr });
  const state = parseFileCommands(await readFile(files.GITHUB_STATE, 'utf8'));
  let postRun = null;
  if (post) {
    const postEnv = { ...base };
    for (const [name, value] of Object.entries(state)) postEnv[`STATE_${name}`] = value;
    postRun = await runNode(entries.post, postEnv, { onStdout, onStderr });
  }
  return {
    main,
    post: postRun,
    outputs: parseFileCommands(await readFile(files.GITHUB_OUTPUT, 'utf8')),
    state,
    summary: await readFile(files.GITHUB_STEP_SUMMARY, 'utf8'),
    dir,
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      input: { type: 'string', multiple: true, default: [] },
      event: { type: 'string', default: 'workflow_dispatch' },
      'event-path': { type: 'string' },
      workspace: { type: 'string', default: process.cwd() },
      'no-post': { type: 'boolean', default: false },
    },
  });
  const inputs = Object.fromEntries(
    values.input.map((pair) => {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error(`--input ${pair}: expected name=value`);
      return [pair.slice(0, eq), pair.slice(eq + 1)];
    }),
  );
  const result = await runAction({
    inputs,
    eventName: values.event,
    eventPath: values['event-path'] && resolve(values['event-path']),
    workspace: resolve(values.workspace),
    post: !values['no-post'],
    onStdout: (t) => process.stdout.write(t),
    onStderr: (t) => process.stderr.write(t),
  });
  console.error(`\nmain exited ${result.main.code}${result.post ? `, post exited ${result.post.code}` : ''}`);
  console.error(`outputs: ${JSON.stringify(result.outputs, null, 2)}`);
  console.error(`job summary: ${join(result.dir, 'summary.md')}`);
  process.exit(result.main.code ?? 1);
}
