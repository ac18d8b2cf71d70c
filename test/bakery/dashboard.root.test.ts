/**
 * (root) The bakery dashboard in headless Debian chromium (playwright-core, no downloaded browser):
 * the page asks for the token, shows a running bake whose progress bar advances from its event
 * stream, and then the bake's final state among the recent bakes.
 * OVENPROOF_SCREENSHOT=path saves a screenshot of the finished page (docs/bakery-dashboard.png).
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseImage, localTestProvider } from '../support/local-base.js';
import { testContext } from '../baker/helpers/context.js';
import { buildMarkerDeb } from '../baker/helpers/test-deb.js';
import { api, startBakery, tempDir, tokenFile, type BakeryProcess } from './helpers.js';
import { budgets, timeoutFor } from '../support/timeouts.js';

const dir = tempDir('bakery-dashboard');
let bakery: BakeryProcess;
let browser: BrowserContext;
let bakeBody: string;
let token: string;
let imageId: string | null = null;

beforeAll(async () => {
  const base = await ensureBaseImage();
  ({ token } = await tokenFile(dir, 'dashboard'));
  bakery = await startBakery(['--data-dir', join(dir, 'data'), '--token-file', join(dir, 'tokens')]);
  // A fresh profile per run: the persistent context's user data dir is the test's own temp folder.
  browser = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
    executablePath: '/usr/bin/chromium',
    viewport: { width: 1200, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const deb = buildMarkerDeb(dir);
  const upload = await api(bakery.url, token, '/v1/files', {
    method: 'POST',
    body: readFileSync(deb),
    headers: { 'content-type': 'application/octet-stream' },
  });
  bakeBody = JSON.stringify({
    baseImage: base.id,
    files: [upload.body.sha256],
    // A few seconds in the provisioning step, so the page sees the bake running however fast the
    // other steps are on this host.
    provisionScript: `# dashboard ${Date.now()}\nsleep 5`,
  });
}, timeoutFor(budgets.baseImage));

afterAll(async () => {
  await browser?.close();
  await bakery?.stop();
  if (imageId) {
    const { ctx } = await testContext(join(dir, 'cleanup-ledger.json'));
    await localTestProvider()
      .deregisterImage(ctx, imageId)
      .catch(() => undefined);
  }
}, timeoutFor(budgets.teardown));

describe('bakery dashboard (root, chromium)', () => {
  it(
    'shows a running bake advancing, then its final state and the stats',
    async () => {
      const page = await browser.newPage();
      await page.goto(bakery.url);
      await page.locator('#token').fill(token);
      await page.getByRole('button', { name: 'Use token' }).click();
      await page.locator('#stats .stat').first().waitFor({ timeout: 60_000 });
      expect((await api(bakery.url, token, '/v1/bakes', { method: 'POST', body: bakeBody })).status).toBe(
        202,
      );

      const bar = page.locator('tr.bake-active .bar > div').first();
      await bar.waitFor({ timeout: 120_000 });
      const widths: number[] = [];
      const steps = new Set<string>();
      // Sample the bar while the bake runs: its width must grow from the live events.
      for (let i = 0; i < 600 && (await page.locator('tr.bake-active').count()) > 0; i++) {
        const width = await bar
          .evaluate((el) => parseFloat((el as unknown as { style: { width: string } }).style.width))
          .catch(() => NaN);
        if (!Number.isNaN(width)) widths.push(width);
        const step = await page
          .locator('tr.bake-active .step')
          .first()
          .textContent()
          .catch(() => null);
        if (step) steps.add(step);
        await page.waitForTimeout(250);
      }
      expect(widths.length).toBeGreaterThan(2);
      expect(Math.max(...widths)).toBeGreaterThan(widths[0]!);
      expect(steps.size).toBeGreaterThan(2);

      const done = page.locator('tr.bake-done').first();
      await done.waitFor({ timeout: 120_000 });
      await expect
        .poll(async () => done.locator('td.succeeded').textContent(), { timeout: 30_000 })
        .toBe('succeeded');
      const bakes = (await api(bakery.url, token, '/v1/bakes')).body.bakes;
      imageId = bakes[0].image.id;
      expect(await done.textContent()).toContain(imageId);
      expect(await page.locator('#stats').textContent()).toContain('succeeded');
      expect(await page.locator('#steps tbody tr').count()).toBeGreaterThan(3);
      // The bakeries of the job store (SQLite: this one alone), with its region and a live status.
      const bakeries = page.locator('#bakeries tbody tr.bakery');
      await expect.poll(async () => bakeries.count(), { timeout: 30_000 }).toBe(1);
      expect(await bakeries.first().textContent()).toMatch(/local.*live$/);
      // The token lives in session storage only, never in the page's URL.
      expect(page.url()).not.toContain(token);

      const shot = join(dir, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      if (process.env.OVENPROOF_SCREENSHOT) copyFileSync(shot, process.env.OVENPROOF_SCREENSHOT);
    },
    timeoutFor(budgets.volumeBake, budgets.volumeBake),
  );
});
