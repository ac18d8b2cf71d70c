/**
 * (QEMU) examples/hello-deb with the bake in a real bakery process: `ovenproof run` with baker-url and
 * a static baker-token, and the bundled Action with baker-audience, whose OIDC token comes from the
 * Actions runtime's ID-token endpoint served by a local issuer. The test instance boots in QEMU.
 *
 * Everything here (the bakery, the CLI, the Action) uses a private $OVENPROOF_HOME: other suites bake
 * hello-deb too, and an image one of them promoted already would keep this bakery from promoting it.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../../src/common/run-result.js';
import {
  api,
  REPO_ROOT,
  startBakery,
  startIssuer,
  tempDir,
  tokenFile,
  type ApiJson,
  type LocalIssuer,
} from '../bakery/helpers.js';
import { startFakeGitHub, type FakeGitHub } from '../support/github-api.js';
import { ensureBaseImage, privateHomeWithBase } from '../support/local-base.js';
// @ts-expect-error: plain ESM script without type declarations
import { runAction } from '../../script/run-action.mjs';
import { HELLO_DEB_RUN, budgets, timeoutFor } from '../support/timeouts.js';

const require = createRequire(import.meta.url);
const definitions = require('@octokit/webhooks-examples') as Array<{
  name: string;
  examples: Array<Record<string, unknown>>;
}>;
const SHA = 'b1a5e7c0ffee0ddba11cafe0123456789abcdef0';
const AUDIENCE = 'ovenproof-bakery-e2e';
const dir = tempDir('bakery-e2e');
let token: string;
let issuer: LocalIssuer;
let gh: FakeGitHub;

let home: string | undefined;

beforeAll(async () => {
  home = privateHomeWithBase(await ensureBaseImage(), 'bakery-e2e');
  // Every process this file starts inherits it.
  process.env.OVENPROOF_HOME = home;
  ({ token } = await tokenFile(dir));
  issuer = await startIssuer();
  gh = await startFakeGitHub();
}, timeoutFor(budgets.baseImage));

afterAll(async () => {
  await issuer?.close();
  await gh?.close();
  if (home) rmSync(home, { recursive: true, force: true });
}, timeoutFor(budgets.teardown));

describe('bake in a bakery (QEMU)', () => {
  it(
    '(QEMU) ovenproof run with baker-url and baker-token passes; the bakery baked the image',
    async () => {
      const bakery = await startBakery([
        '--data-dir',
        join(dir, 'cli-data'),
        '--token-file',
        join(dir, 'tokens'),
      ]);
      try {
        const resultPath = join(dir, 'cli-result.json');
        const run = spawnSync(
          process.execPath,
          [
            '--import',
            'tsx',
            'src/cli/main.ts',
            'run',
            '--config',
            'examples/hello-deb/ovenproof.yml',
            '--set',
            `baker-url=${bakery.url}`,
            '--set',
            `baker-token=${token}`,
            '--result-json',
            resultPath,
          ],
          { cwd: REPO_ROOT, encoding: 'utf8', timeout: 900_000 },
        );
        expect(run.status, run.stderr.slice(-3000)).toBe(0);
        expect(run.stderr).not.toContain(token);
        const result = JSON.parse(await readFile(resultPath, 'utf8')) as RunResult;
        expect(result.status).toBe('passed');
        expect(result.image!.bakedBy).toBe(bakery.url);
        // keep-image: on-success and the tests passed: the bakery promoted its image for this run.
        expect(result.image).toMatchObject({ promoted: true, kept: true, expiresAt: null });
        const bakes = (await api(bakery.url, token, '/v1/bakes')).body.bakes as Array<
          Record<string, ApiJson>
        >;
        expect(bakes).toHaveLength(1);
        expect(bakes[0]).toMatchObject({
          state: 'succeeded',
          requestedBy: 'token:tests',
          bakeKey: result.image!.bakeKey,
        });
        expect(bakes[0]!.image.id).toBe(result.image!.id);
        const images = (await api(bakery.url, token, '/v1/images')).body.images as ApiJson[];
        expect(images.find((i) => i.id === result.image!.id)?.tags).toMatchObject({
          'ovenproof:kept': 'true',
          'ovenproof:tested': 'passed',
        });
        // The run's own ledger holds no image: the bakery owns it as a bake cache entry.
        expect(result.resources.filter((r) => r.kind === 'image')).toEqual([]);

        // A bakery that refuses the token is a configuration error (exit 3) that says what to fix.
        const refused = spawnSync(
          process.execPath,
          [
            '--import',
            'tsx',
            'src/cli/main.ts',
            'bake',
            '--config',
            'examples/hello-deb/ovenproof.yml',
            '--set',
            `baker-url=${bakery.url}`,
            '--set',
            'baker-token=wrong',
          ],
          { cwd: REPO_ROOT, encoding: 'utf8', timeout: 600_000 },
        );
        expect(refused.status, refused.stderr).toBe(3);
        expect(refused.stderr).toMatch(/401.*baker-token/);
      } finally {
        expect(await bakery.stop()).toBe(0);
      }
      // A bakery that is down: a pipeline error (exit 2) naming the URL.
      const down = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/cli/main.ts',
          'bake',
          '--config',
          'examples/hello-deb/ovenproof.yml',
          '--set',
          `baker-url=${bakery.url}`,
          '--set',
          `baker-token=${token}`,
        ],
        { cwd: REPO_ROOT, encoding: 'utf8', timeout: 600_000 },
      );
      expect(down.status, down.stderr).toBe(2);
      expect(down.stderr).toContain(`bakery ${bakery.url} is unreachable`);
    },
    timeoutFor(HELLO_DEB_RUN, HELLO_DEB_RUN),
  );

  it(
    '(QEMU) the Action with baker-audience authenticates with an OIDC token from the runtime',
    async () => {
      Object.assign(issuer.actionsClaims, {
        repository: 'octo-org/hello-deb',
        repository_owner: 'octo-org',
        sha: SHA,
        ref: 'refs/heads/main',
      });
      const bakery = await startBakery([
        '--data-dir',
        join(dir, 'action-data'),
        '--oidc-issuer',
        issuer.issuer,
        '--oidc-audience',
        AUDIENCE,
        '--allow-repo',
        'octo-org/*',
      ]);
      try {
        const push = definitions
          .find((d) => d.name === 'push')!
          .examples.find((p) => String(p.ref).startsWith('refs/heads/'))!;
        const eventPath = join(await mkdtemp(join(tmpdir(), 'ovenproof-e2e-')), 'push.json');
        await writeFile(eventPath, JSON.stringify(push));
        const run = await runAction({
          inputs: {
            'github-token': 'ghs_e2etoken',
            'baker-url': bakery.url,
            'baker-audience': AUDIENCE,
            // The image's second launch here: a cold boot costs less than making its warm snapshot.
            'warm-boot': 'never',
          },
          eventName: 'push',
          eventPath,
          workspace: resolve(REPO_ROOT, 'examples/hello-deb'),
          env: {
            GITHUB_API_URL: gh.url,
            GITHUB_SHA: SHA,
            GITHUB_REPOSITORY: 'octo-org/hello-deb',
            GITHUB_RUN_ID: '43',
            ACTIONS_ID_TOKEN_REQUEST_URL: issuer.tokenRequestUrl,
            ACTIONS_ID_TOKEN_REQUEST_TOKEN: issuer.tokenRequestBearer,
          },
        });
        const result = JSON.parse(await readFile(run.outputs['result-json'], 'utf8')) as RunResult;
        expect(run.main.code, JSON.stringify(result.error)).toBe(0);
        expect(result.image!.bakedBy).toBe(bakery.url);
        const bakes = (
          await api(bakery.url, await issuer.sign({ ...issuer.actionsClaims, aud: AUDIENCE }), '/v1/bakes')
        ).body.bakes;
        expect(bakes[0]).toMatchObject({ state: 'succeeded', requestedBy: `octo-org/hello-deb@${SHA}` });
        expect(bakes[0].image.id).toBe(result.image!.id);
      } finally {
        expect(await bakery.stop()).toBe(0);
      }
    },
    timeoutFor(HELLO_DEB_RUN, HELLO_DEB_RUN),
  );
});
