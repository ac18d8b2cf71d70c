/**
 * keep-image policies through the real CLI on the local provider: a freshly baked image is deleted
 * when the policy says so, and the ledger and result JSON record the deletion. `packages=jq` gives
 * these runs their own bake key, so they never reuse (or delete) the image other tests keep.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBaseImage } from '../support/local-base.js';
import { HELLO_DEB_RUN, budgets, timeoutFor } from '../support/timeouts.js';
import type { RunResult } from '../../src/common/run-result.js';

async function run(...sets: string[]): Promise<{ status: number | null; result: RunResult; stderr: string }> {
  const resultPath = join(await mkdtemp(join(tmpdir(), 'ovenproof-keep-')), 'result.json');
  const args = ['dist/cli.js', 'run', '--config', 'examples/hello-deb/ovenproof.yml', '--set', 'packages=jq'];
  for (const set of sets) args.push('--set', set);
  const child = spawnSync(process.execPath, [...args, '--result-json', resultPath], { encoding: 'utf8' });
  return {
    status: child.status,
    result: JSON.parse(await readFile(resultPath, 'utf8')) as RunResult,
    stderr: child.stderr,
  };
}

function localImageIds(): string[] {
  const out = spawnSync(process.execPath, ['dist/cli.js', 'images', '--provider', 'local', '--json'], {
    encoding: 'utf8',
  });
  return (JSON.parse(out.stdout) as Array<{ id: string }>).map((i) => i.id);
}

/** Each test is one run of hello-deb through the CLI (with a bake of its own), then the image list. */
const CLI_RUN = timeoutFor(HELLO_DEB_RUN, budgets.hostCommands);

describe('keep-image on the local provider', { timeout: CLI_RUN }, () => {
  beforeAll(async () => {
    await ensureBaseImage();
  }, timeoutFor(budgets.baseImage));

  it('(QEMU) keep-image: never deletes the tested image after a passing run', async () => {
    const { status, result, stderr } = await run('keep-image=never');
    expect(status, stderr).toBe(0);
    expect(result.image).toMatchObject({ cacheHit: false, kept: false });
    expect(localImageIds()).not.toContain(result.image!.id);
    const image = result.resources.find((r) => r.kind === 'image' && r.id === result.image!.id);
    expect(image?.deletedAt).not.toBeNull();
  });

  it('(QEMU) keep-image: on-success deletes the image when a test fails', async () => {
    const { status, result, stderr } = await run(
      'keep-image=on-success',
      'test=HELLO_DEB_FAIL=1 /usr/share/hello-deb/run-tests',
    );
    expect(status, stderr).toBe(1);
    expect(result.image).toMatchObject({ cacheHit: false, kept: false });
    expect(localImageIds()).not.toContain(result.image!.id);
  });
});
