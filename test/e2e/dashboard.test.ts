import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { cli, startDevnet, tempHome, type DevnetProcess } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
/** In CI a missing Chromium is a failure, not a skip (.ci/run installs it and fails if it cannot). */
const inCi = process.env.CI === 'true';

it.runIf(!haveChromium && inCi)(`CI has Chromium at ${CHROMIUM} for the dashboard test`, () => {
  expect.fail(`no Chromium at ${CHROMIUM} with CI=true: .ci/run installs it (apt-get install -y chromium)`);
});

/** The dashboard in a real headless Chromium: it shows the network and a lease appears live. */
describe.skipIf(!haveChromium)(
  haveChromium
    ? 'dashboard in a real browser'
    : `dashboard in a real browser (skipped: no Chromium at ${CHROMIUM}; apt-get install -y chromium)`,
  () => {
    const home = tempHome();
    const env = { AETHIR_HOME: home };
    let net: DevnetProcess;
    let browser: Browser;

    beforeAll(async () => {
      net = await startDevnet(['--data', join(home, 'devnet'), '--demo-containers', '3'], env);
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--no-first-run',
          '--disable-sync',
        ],
      });
    });
    afterAll(async () => {
      await browser?.close();
      await net?.stop();
    });

    it('shows containers, height, state root and checker reports, and a new lease appears without a reload', async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(net.url + '/');
      await page.locator('#live', { hasText: 'live' }).waitFor();
      await page.locator('#containers tbody tr[data-id]').nth(3).waitFor();
      expect(await page.locator('#containers tbody tr[data-id]').count()).toBe(4);
      expect(await page.locator('#containers .sim').count()).toBe(3);
      expect(await page.locator('#containers .status-online').count()).toBe(4);
      expect(await page.locator('#root').textContent()).toMatch(/^[0-9a-f]{64}$/);
      expect(Number(await page.locator('#height').textContent())).toBeGreaterThan(0);
      expect(await page.locator('#reports tbody tr').count()).toBeGreaterThan(0);
      // each report names its check; a verdict carries the checker's reason
      expect(await page.locator('#reports tbody tr').first().locator('td').nth(3).textContent()).toMatch(
        /^(liveness|capacity|location|qos)$/,
      );
      // reputation from the checkers' verdicts, 0..1, for every container
      for (const t of await page.locator('#containers tbody tr[data-id] td:nth-child(8)').allTextContents())
        expect(t).toMatch(/^[01]\.\d\d$/);
      expect(await page.locator('#leases tbody tr[data-id]').count()).toBe(0);
      const heightBefore = Number(await page.locator('#height').textContent());

      const r = await cli(['rent', '--json', '--', 'node', '-e', 'console.log("from the browser test")'], {
        ...env,
        AETHIR_API: net.url,
      });
      expect(r.code).toBe(0);
      const leaseId = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).lease;

      const row = page.locator(`#leases tbody tr[data-id="${leaseId}"]`);
      await row.waitFor({ timeout: 15_000 });
      await page
        .locator(`#leases tbody tr[data-id="${leaseId}"] .status-closed`)
        .waitFor({ timeout: 15_000 });
      expect(await row.textContent()).toContain('console.log');
      expect(Number(await page.locator('#height').textContent())).toBeGreaterThan(heightBefore);
      expect(errors).toEqual([]);
    });
  },
);
