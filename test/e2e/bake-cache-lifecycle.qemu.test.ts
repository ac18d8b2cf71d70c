/**
 * The bake cache as a new user meets it, through the real CLI on the local provider with real VMs: a
 * project whose build is not reproducible (plain `dpkg-deb --build` of files copied fresh each time)
 * and whose tests fail. The failing run's bake stays cached and the next run reuses it; a changed
 * source file misses; `images prune --older-than 0s` then removes the unpromoted images only.
 *
 * The runs use a private $OVENPROOF_HOME (the shared base image hard-linked in), so prune cannot touch
 * anyone else's images.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureBaseImage, privateHomeWithBase } from '../support/local-base.js';
import { HELLO_DEB_RUN, budgets, timeoutFor } from '../support/timeouts.js';
import type { RunResult } from '../../src/common/run-result.js';

const cli = resolve('dist/cli.js');
let home: string;
let project: string;
let baseId: string;

const BUILD = `#!/bin/sh
# A plain, non-reproducible build: files copied fresh (new mtimes), no SOURCE_DATE_EPOCH.
set -e
rm -rf pkg out
mkdir -p pkg/DEBIAN pkg/usr/bin out
cp src/control pkg/DEBIAN/control
cp src/nonrepro pkg/usr/bin/nonrepro
chmod 755 pkg/usr/bin/nonrepro
dpkg-deb --build pkg out/nonrepro_1.0_all.deb
`;

function env(): NodeJS.ProcessEnv {
  const { SOURCE_DATE_EPOCH: _unused, ...rest } = process.env;
  return { ...rest, OVENPROOF_HOME: home };
}

function cliRun(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { cwd: project, env: env(), encoding: 'utf8' });
}

function run(): { status: number | null; result: RunResult; stderr: string; deb: Buffer } {
  const resultPath = join(project, `result-${Date.now()}.json`);
  const child = cliRun('run', '--config', join(project, 'ovenproof.yml'), '--result-json', resultPath);
  return {
    status: child.status,
    result: JSON.parse(readFileSync(resultPath, 'utf8')) as RunResult,
    stderr: child.stderr,
    deb: readFileSync(join(project, 'out/nonrepro_1.0_all.deb')),
  };
}

function images(): Array<{ id: string; tags: Record<string, string> }> {
  return JSON.parse(cliRun('images', '--json').stdout) as Array<{ id: string; tags: Record<string, string> }>;
}

beforeAll(async () => {
  const base = await ensureBaseImage();
  baseId = base.id;
  home = privateHomeWithBase(base, 'lifecycle');

  project = mkdtempSync(join(home, 'project-'));
  mkdirSync(join(project, 'src'));
  writeFileSync(
    join(project, 'src/control'),
    'Package: nonrepro\nVersion: 1.0\nArchitecture: all\nMaintainer: ovenproof tests <tests@example.invalid>\nDescription: non-reproducible build probe\n',
  );
  writeFileSync(join(project, 'src/nonrepro'), '#!/bin/sh\necho "nonrepro 1"\nexit 1\n');
  writeFileSync(join(project, 'build.sh'), BUILD);
  chmodSync(join(project, 'build.sh'), 0o755);
  writeFileSync(
    join(project, 'ovenproof.yml'),
    `provider: local\nbuild: ./build.sh\npackage: out/*.deb\ntest: /usr/bin/nonrepro\nbase-image: ${base.name}\nkeep-image: on-success\nttl: 30m\n` +
      // Failure images are not bake-cache images (prune leaves them to their own expiry): none here.
      'snapshot-on-failure: never\n' +
      // Cold boots: the reused image's second launch would make its warm snapshot, which costs more
      // than it saves for an image launched twice (warm boot has tests of its own).
      'warm-boot: never\n',
  );
}, timeoutFor(budgets.baseImage));

afterAll(() => {
  if (home) rmSync(home, { recursive: true, force: true });
}, timeoutFor());

describe('bake cache with a non-reproducible build and failing tests', () => {
  let first: ReturnType<typeof run>;

  it(
    '(QEMU) a failed run keeps its bake cached, unpromoted',
    () => {
      first = run();
      expect(first.status, first.stderr).toBe(1);
      expect(first.result.image).toMatchObject({ cacheHit: false, kept: true, promoted: false });
      expect(Date.parse(first.result.image!.expiresAt!)).toBeGreaterThan(Date.now() + 6 * 86_400_000);
      const cached = images().find((i) => i.id === first.result.image!.id);
      expect(cached?.tags['ovenproof:kept']).toBeUndefined();
      expect(cached?.tags['ovenproof:lease:' + cached.tags['ovenproof:run-id']]).toBeUndefined();
    },
    timeoutFor(HELLO_DEB_RUN),
  );

  it(
    '(QEMU) the next run rebuilds a different .deb with the same content and reuses the bake',
    async () => {
      await new Promise((r) => setTimeout(r, 1_100)); // a new second: new mtimes in the rebuilt archive
      const second = run();
      expect(second.status, second.stderr).toBe(1);
      expect(second.deb.equals(first.deb)).toBe(false);
      expect(second.result.image).toMatchObject({
        id: first.result.image!.id,
        bakeKey: first.result.image!.bakeKey,
        cacheHit: true,
        promoted: false,
      });
      const baker = images().find((i) => i.id === first.result.image!.id)!.tags['ovenproof:run-id'];
      expect(second.result.image!.reusedFromRun).toBe(baker);
      expect(Date.parse(second.result.image!.expiresAt!)).toBeGreaterThanOrEqual(
        Date.parse(first.result.image!.expiresAt!),
      );
      const bakeStage = second.result.stages.find((s) => s.name === 'bake')!;
      process.stderr.write(`bake stage of the cache hit: ${bakeStage.durationMs} ms\n`);
    },
    timeoutFor(HELLO_DEB_RUN),
  );

  it(
    '(QEMU) a changed source file misses and bakes a new image; prune removes only unpromoted ones',
    () => {
      writeFileSync(join(project, 'src/nonrepro'), '#!/bin/sh\necho "nonrepro 2"\nexit 1\n');
      const third = run();
      expect(third.status, third.stderr).toBe(1);
      expect(third.result.image!.cacheHit).toBe(false);
      expect(third.result.image!.id).not.toBe(first.result.image!.id);
      expect(third.result.image!.bakeKey).not.toBe(first.result.image!.bakeKey);

      // A promoted image (a passing run with keep-image on-success) must survive the prune.
      writeFileSync(join(project, 'src/nonrepro'), '#!/bin/sh\necho "nonrepro 3"\n');
      const passing = run();
      expect(passing.status, passing.stderr).toBe(0);
      expect(passing.result.image).toMatchObject({ cacheHit: false, promoted: true, expiresAt: null });

      const pruned = cliRun('images', 'prune', '--older-than', '0s', '--json');
      expect(pruned.status, pruned.stderr).toBe(0);
      const decisions = JSON.parse(pruned.stdout) as Array<{ id: string; action: string }>;
      expect(
        decisions
          .filter((d) => d.action === 'deleted')
          .map((d) => d.id)
          .sort(),
      ).toEqual([first.result.image!.id, third.result.image!.id].sort());
      expect(
        images()
          .map((i) => i.id)
          .sort(),
      ).toEqual([baseId, passing.result.image!.id].sort());
    },
    timeoutFor(HELLO_DEB_RUN, HELLO_DEB_RUN),
  );
});
