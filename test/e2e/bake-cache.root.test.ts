/**
 * `ovenproof bake` through the real CLI, twice with the same inputs: the second run is a bake-cache hit
 * that reuses the first run's image (root: the volume bake mounts a loop device).
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { ensureBaseImage } from '../support/local-base.js';
import { budgets, timeoutFor } from '../support/timeouts.js';

function bake(): {
  status: number | null;
  image: { id: string; cacheHit: boolean; bakeKey: string; kept: boolean };
  stderr: string;
} {
  const run = spawnSync(
    process.execPath,
    ['dist/cli.js', 'bake', '--config', 'examples/hello-deb/ovenproof.yml', '--json'],
    { encoding: 'utf8' },
  );
  return { status: run.status, image: run.stdout ? JSON.parse(run.stdout) : null, stderr: run.stderr };
}

/** Two `ovenproof bake` runs of hello-deb: each builds the package; the first bakes, the second finds it. */
const TWO_BAKES = timeoutFor(budgets.build, budgets.volumeBake, budgets.build, budgets.hostCommands);

describe('bake cache through the CLI', { timeout: TWO_BAKES }, () => {
  beforeAll(async () => {
    await ensureBaseImage();
  }, timeoutFor(budgets.baseImage));

  it('(root) a second identical bake reuses the first image by its bake key', () => {
    const first = bake();
    expect(first.status, first.stderr).toBe(0);
    expect(first.image.kept).toBe(true);
    const second = bake();
    expect(second.status, second.stderr).toBe(0);
    expect(second.image).toMatchObject({ id: first.image.id, bakeKey: first.image.bakeKey, cacheHit: true });
  });
});
