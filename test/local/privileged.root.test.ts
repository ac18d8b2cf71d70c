import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Privileged } from '../../src/common/host/command.js';
import { budgets, timeoutFor } from '../support/timeouts.js';

const commandModule = fileURLToPath(new URL('../../src/common/host/command.ts', import.meta.url));

/** A few host commands; one of them a Node child process as an unprivileged user. */
const HOST_COMMANDS = timeoutFor(budgets.hostCommands);

describe('privileged steps', { timeout: HOST_COMMANDS }, () => {
  it('(root) run directly as root', async () => {
    const privileged = new Privileged();
    expect(await privileged.unavailable()).toBeNull();
    expect((await privileged.mustRun('bake', 'id', ['-u'])).trim()).toBe('0');
  });

  it('(root) as an unprivileged user without sudo, fail once with what to do', () => {
    const code = `import { Privileged } from ${JSON.stringify(commandModule)};
      const p = new Privileged();
      console.log(JSON.stringify(await p.unavailable()));
      try { await p.run('losetup', ['-f']); } catch (e) { console.log(JSON.stringify([e.name, e.message])); }`;
    const result = spawnSync(
      'runuser',
      ['-u', 'nobody', '--', process.execPath, '--import', 'tsx', '--input-type=module', '-e', code],
      {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        encoding: 'utf8',
        env: { ...process.env, HOME: '/tmp' },
      },
    );
    const [reason, error] = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    expect(reason).toMatch(/need root: run ovenproof as root, or allow passwordless sudo .*sudo -n true/);
    expect(error).toEqual(['PipelineError', reason]);
  });
});
