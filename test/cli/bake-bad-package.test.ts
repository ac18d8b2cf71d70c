/**
 * `ovenproof bake` with a package file that is not a valid .deb: a usage error (exit 3) that names the
 * file and what is wrong, before any image is touched.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bakeCommand } from '../../src/cli/commands/run.js';
import { runCommand } from '../support/cli-io.js';

describe('ovenproof bake with a malformed package', () => {
  it('exits 3 naming the file and the reason', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-bad-deb-'));
    await writeFile(
      join(dir, 'broken_1.0_all.deb'),
      '!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n',
    );
    const { code, stderr } = await runCommand(
      bakeCommand,
      ['--provider', 'local', '--set', 'package=broken_1.0_all.deb', '--set', 'base-image=img-000000000000'],
      { env: { ...process.env, OVENPROOF_HOME: join(dir, 'home') }, cwd: dir },
    );
    expect(code).toBe(3);
    expect(stderr).toContain(
      'broken_1.0_all.deb is not a valid Debian package: it has no control.tar member',
    );
  }, 60_000);
});
