/**
 * The Action on the local provider as two jobs on fresh GitHub-hosted runners: each starts with an
 * empty $OVENPROOF_HOME and talks to the local stand-in of the Actions cache service (Twirp endpoints
 * plus Azurite blob storage). The first job restores the base and saves its bake; the second restores
 * the base and gets a bake-cache hit from the saved bake, building and baking nothing. The saved
 * entries hold one image folder each, with no SSH keys.
 *
 * The base entry is seeded from the shared base image (saved by the same code the Action uses), so the
 * test does not rebuild the base from the Debian mirror.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ActionsImageCache } from '../../src/action/image-cache.js';
import { ovenproofHome as defaultHome } from '../../src/common/host/home.js';
import type { RunResult } from '../../src/common/run-result.js';
import { startFakeGitHub, type FakeGitHub } from '../support/github-api.js';
import { startCacheStandIn, type CacheStandIn } from '../support/actions-cache.js';
import { ensureBaseImage } from '../support/local-base.js';
import { HELLO_DEB_RUN, budgets, timeoutFor } from '../support/timeouts.js';
// @ts-expect-error: plain ESM script without type declarations
import { runAction } from '../../script/run-action.mjs';

const workspace = resolve('examples/hello-deb');
let gh: FakeGitHub;
let service: CacheStandIn;
let work: string;
let runnerTemp: string;
let baseId: string;

const withEnv = async <T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> => {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
};

beforeAll(
  async () => {
    const base = await ensureBaseImage();
    baseId = base.id;
    gh = await startFakeGitHub();
    service = await startCacheStandIn();
    work = mkdtempSync(join(tmpdir(), 'ovenproof-action-cache-'));
    // Like RUNNER_TEMP on GitHub-hosted runners: the same path in every job, empty at its start.
    runnerTemp = join(work, 'runner-temp');
    mkdirSync(join(work, 'workspace'), { recursive: true });
    await withEnv({ ...service.env, GITHUB_WORKSPACE: workspace, RUNNER_TEMP: runnerTemp }, async () => {
      const cache = new ActionsImageCache({
        home: defaultHome(),
        stagingRoot: runnerTemp,
        cacheTtlMs: 86_400_000,
        log: {
          info: () => undefined,
          warn: (m) => process.stderr.write(`${m}\n`),
          debug: () => undefined,
          mask: () => undefined,
        },
      });
      expect(await cache.saveImages([base.id])).toEqual([await ActionsImageCache.baseEntry(base.name)]);
    });
  },
  timeoutFor(budgets.baseImage, budgets.diskCopy),
);

afterAll(async () => {
  await gh?.close();
  await service?.close();
  if (work) rmSync(work, { recursive: true, force: true });
}, timeoutFor());

async function job(name: string) {
  const home = join(work, `${name}-home`);
  mkdirSync(home);
  rmSync(runnerTemp, { recursive: true, force: true });
  mkdirSync(runnerTemp);
  const eventPath = join(work, 'event.json');
  writeFileSync(eventPath, JSON.stringify({}));
  const run = await runAction({
    inputs: { 'github-token': 'ghs_e2etoken', provider: 'local', 'ssh-user': 'root' },
    eventName: 'workflow_dispatch',
    eventPath,
    workspace,
    env: {
      ...service.env,
      OVENPROOF_HOME: home,
      RUNNER_TEMP: runnerTemp,
      GITHUB_API_URL: gh.url,
      GITHUB_SHA: 'c0ffee0000000000000000000000000000000000',
      GITHUB_REPOSITORY: 'octo-org/hello-deb',
      GITHUB_RUN_ID: name === 'first' ? '101' : '102',
    },
  });
  const resultPath = run.outputs['result-json'] as string | undefined;
  if (!resultPath)
    throw new Error(`job ${name} wrote no result JSON (exit ${run.main.code}):\n${run.main.stdout}`);
  const result = JSON.parse(readFileSync(resultPath, 'utf8')) as RunResult;
  return { run, result, home, log: run.main.stdout as string };
}

describe('the Action persists the local store with the Actions cache (QEMU)', () => {
  let first: Awaited<ReturnType<typeof job>>;

  it(
    '(QEMU) job 1 on an empty home restores the base, bakes, and saves the bake',
    async () => {
      first = await job('first');
      expect(first.run.main.code, first.log).toBe(0);
      expect(first.result.image).toMatchObject({ baseImageId: baseId, cacheHit: false });
      expect(first.log).toMatch(
        new RegExp(
          `restored image ${baseId} \\(debian-12\\) from the Actions cache entry ovenproof-base-debian-12-`,
        ),
      );
      expect(first.log).not.toContain('building it once');
      // With the default warm boot, the image's first launch in a home boots cold and makes no snapshot.
      expect(first.result.instance?.boot).toBe('cold');
      expect(first.log).toContain(
        `warm boot: first launch of image ${first.result.image!.id} here, booting cold (its next launch makes the warm snapshot)`,
      );
      const bakeEntry = ActionsImageCache.bakeKeyEntry(first.result.image!.bakeKey);
      expect(
        service
          .entries()
          .filter((e) => e.finalized)
          .map((e) => e.key),
      ).toContain(bakeEntry);
    },
    timeoutFor(HELLO_DEB_RUN, budgets.diskCopy),
  );

  it(
    '(QEMU) job 2 on another empty home restores the base and hits the bake cache',
    async () => {
      const second = await job('second');
      expect(second.run.main.code, second.log).toBe(0);
      expect(second.result.image).toMatchObject({
        id: first.result.image!.id,
        baseImageId: baseId,
        bakeKey: first.result.image!.bakeKey,
        cacheHit: true,
      });
      expect(second.run.outputs['bake-cache-hit']).toBe('true');
      expect(second.log).toMatch(
        /restored image \S+ \(debian-12\) from the Actions cache entry ovenproof-base-/,
      );
      expect(second.log).toContain(
        `from the Actions cache entry ${ActionsImageCache.bakeKeyEntry(first.result.image!.bakeKey)}`,
      );
      expect(second.log).not.toContain('building it once');
      // The cache entry does not carry job 1's launch: here too the first launch boots cold.
      expect(second.result.instance?.boot).toBe('cold');
      expect(second.log).toContain(`warm boot: first launch of image ${first.result.image!.id} here`);
      // Nothing new to save: both entries exist, so no second upload was reserved.
      expect(service.calls.filter((c) => c.method === 'CreateCacheEntry')).toHaveLength(2);

      // The saved bake entry: exactly one image folder, and its disk carries no SSH host or client keys.
      const key = ActionsImageCache.bakeKeyEntry(first.result.image!.bakeKey);
      const archive = join(work, 'bake-entry.tzst');
      writeFileSync(archive, await service.download(key));
      const members = execFileSync('tar', ['--zstd', '-tf', archive], { encoding: 'utf8' })
        .split('\n')
        .filter((m) => m && !m.endsWith('/'));
      expect(members).toHaveLength(1);
      const inner = execFileSync(
        'sh',
        ['-c', 'tar --zstd -P -xOf "$1" "$2" | tar -tf -', 'sh', archive, members[0]!],
        { encoding: 'utf8' },
      );
      const id = first.result.image!.id;
      expect(inner.split('\n').filter(Boolean).sort()).toEqual([
        `${id}/`,
        `${id}/disk.raw`,
        `${id}/initrd.img`,
        `${id}/manifest.json`,
        `${id}/vmlinuz`,
      ]);
      const disk = join(second.home, 'images', id, 'disk.raw');
      const ssh = execFileSync('debugfs', ['-R', 'ls -l /etc/ssh', disk], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      expect(ssh).toContain('sshd_config');
      expect(ssh).not.toMatch(/ssh_host_\w+_key/);
      const rootSsh = execFileSync('debugfs', ['-R', 'ls -l /root/.ssh', disk], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      expect(rootSsh).not.toContain('authorized_keys');
    },
    timeoutFor(HELLO_DEB_RUN, budgets.diskCopy),
  );
});
