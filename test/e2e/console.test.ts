import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { formatAth } from '../../src/core/index.js';
import { ROOT, cli, startDevnet, tempHome, type DevnetProcess } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
/** In CI a missing Chromium is a failure, not a skip (.ci/run installs it and fails if it cannot). */
const inCi = process.env.CI === 'true';

it.runIf(!haveChromium && inCi)(`CI has Chromium at ${CHROMIUM} for the console test`, () => {
  expect.fail(`no Chromium at ${CHROMIUM} with CI=true: .ci/run installs it (apt-get install -y chromium)`);
});

const SHOTS = join(ROOT, 'test-output/console');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * The console in a real headless Chromium against a devnet with demo containers: the map, renting
 * with a key held by the browser, a CLI lease appearing live, voting, accessibility, and not one
 * request to another host.
 */
describe.skipIf(!haveChromium)(
  haveChromium
    ? 'the console in a real browser'
    : `the console in a real browser (skipped: no Chromium at ${CHROMIUM}; apt-get install -y chromium)`,
  () => {
    const home = tempHome();
    const env = { AETHIR_HOME: home };
    let net: DevnetProcess;
    let browser: Browser;
    let ctx: BrowserContext;
    let page: Page;
    const requests: string[] = [];
    const errors: string[] = [];
    let developer: { address: string; secretKey: string };

    const shot = async (name: string) => {
      await page.waitForTimeout(300); // let transitions settle
      await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
    };
    const axe = async () => {
      await page.addScriptTag({ content: AXE });
      const r = await page.evaluate(async () =>
        (window as any).axe.run(document, { resultTypes: ['violations'] }),
      );
      return (r.violations as Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }>)
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    };
    const go = async (hash: string, ready: string) => {
      await page.goto(`${net.url}/${hash}`);
      await page.locator(ready).first().waitFor();
    };

    beforeAll(async () => {
      mkdirSync(SHOTS, { recursive: true });
      // the console as the sources are now (npm install's prepare built it once)
      execFileSync(process.execPath, [join(ROOT, 'scripts/build-web.mjs')]);
      net = await startDevnet(['--data', join(home, 'devnet'), '--demo-containers', '8'], env);
      developer = JSON.parse(readFileSync(join(home, 'keys/developer.json'), 'utf8'));
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
      ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
      ctx.on('request', (r) => requests.push(r.url()));
      page = await ctx.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
    }, 90_000);
    afterAll(async () => {
      await browser?.close();
      await net?.stop();
    });

    it('the map shows one mark per container, filters count them, and a click opens the container', async () => {
      const { containers } = await (await fetch(`${net.url}/v1/containers?limit=1000`)).json();
      expect(containers.length).toBe(9);
      await go('#/map', '[data-testid=map]');
      await page.locator('[data-testid=map-container]').nth(8).waitFor();
      expect(await page.locator('[data-testid=map-container]').count()).toBe(9);
      const ids = await page
        .locator('[data-testid=map-container]')
        .evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.id).sort());
      expect(ids).toEqual(containers.map((c: any) => c.id).sort());
      await expect
        .poll(() => page.locator('[data-testid=map-count]').textContent())
        .toMatch(/^9 of 9 containers/);
      await shot('map');
      expect(await axe()).toEqual([]);
      // a filter nobody passes empties the map; clearing it brings every mark back
      await page.locator('input[name=maxPrice]').fill('0.0000001');
      await expect.poll(() => page.locator('[data-testid=map-container]').count()).toBe(0);
      expect(await page.locator('[data-testid=map-count]').textContent()).toMatch(/^0 of 9 containers/);
      await page.locator('input[name=maxPrice]').fill('');
      await expect.poll(() => page.locator('[data-testid=map-container]').count()).toBe(9);
      // a phone's width: the map and the nav still fit
      await page.setViewportSize({ width: 390, height: 800 });
      await shot('map-phone');
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await page.setViewportSize({ width: 1280, height: 860 });

      const first = page.locator('[data-testid=map-container]').first();
      const id = await first.getAttribute('data-id');
      await first.click();
      await page.locator('.page-container h1').waitFor();
      expect(page.url()).toContain(`#/container/${id}`);
      expect(await page.locator('.page-container').textContent()).toContain(id);
      await page.locator('text=Reputation').first().waitFor();
      await shot('container');
      expect(await axe()).toEqual([]);
    });

    it('imports the developer key, rents from the browser, and the output streams into the terminal', async () => {
      await go('#/account', '[data-testid=import-key]');
      await page.locator('#import-secret').fill(developer.secretKey);
      await page.locator('[data-testid=import-key] button').click();
      await expect.poll(() => page.locator('[data-testid=my-address]').textContent()).toBe(developer.address);
      await shot('account');
      expect(await axe()).toEqual([]);

      await go('#/rent', '[data-testid=rent-form]');
      // the live answer: a price nobody asks for says why not, and how to relax the request
      await page.locator('input[name=maxPrice]').fill('0.0000001');
      await page.locator('[data-testid=why-not]').waitFor();
      expect(await page.locator('[data-testid=why-not]').textContent()).toMatch(
        /No match.*price.*Would match:relax/s,
      );
      await shot('rent-why-not');
      // "Use this" applies the relaxation: the price becomes the cheapest that matches, and it matches
      await page.locator('[data-testid=relax]').first().click();
      await page.locator('[data-testid=rent-answer] .ok').waitFor();
      expect(await page.locator('input[name=maxPrice]').inputValue()).toMatch(/^\d+(\.\d+)?$/);
      await page.locator('input[name=maxPrice]').fill('');
      await page.locator('[data-testid=rent-answer] .ok').waitFor();
      expect(await page.locator('[data-testid=rent-answer]').textContent()).toMatch(/^Match: .+ candidates?/);
      const offered = await page.locator('[data-testid=rent-answer] a').textContent();
      const marker = `from-the-browser-${process.pid}`;
      await page.locator('input[name=command]').fill(`node -e "console.log('${marker}')"`);
      await page.locator('[data-testid=rent-submit]').click();
      await page.locator('[data-testid=lease-state]', { hasText: /exited 0/ }).waitFor({ timeout: 30_000 });
      // renting took the offer shown (a preview: unsigned, it reserved nothing), and the output streamed
      expect(await page.locator('[data-testid=rent-output] .xterm-rows').textContent()).toContain(
        `matched ${offered} in`,
      );
      expect(await page.locator('[data-testid=rent-output] .xterm-rows').textContent()).toContain(marker);
      await page.locator('[data-testid=lease-cost]').waitFor({ timeout: 15_000 });
      expect(await page.locator('[data-testid=lease-cost]').textContent()).toMatch(
        /^Charged .+ ATH for \d+\.\d s; .+ refunded\.$/,
      );
      await shot('rent');
      expect(await axe()).toEqual([]);
      await page.setViewportSize({ width: 390, height: 800 });
      await shot('rent-phone');
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await page.setViewportSize({ width: 1280, height: 860 });

      // the ledger holds the lease the browser signed, opened by the developer's key
      const { leases } = await (await fetch(`${net.url}/v1/leases?user=${developer.address}`)).json();
      expect(leases.length).toBe(1);
      expect(leases[0].workload.command).toEqual(['node', '-e', `console.log('${marker}')`]);

      // Stop ends a running workload: the browser closes the lease it signed
      await page.locator('input[name=command]').fill(`node -e "setInterval(() => console.log('tick'), 200)"`);
      await page.locator('[data-testid=rent-submit]').click();
      await page
        .locator('[data-testid=rent-output] .xterm-rows', { hasText: 'tick' })
        .waitFor({ timeout: 30_000 });
      await page.locator('[data-testid=rent-stop]').click();
      await page.locator('[data-testid=lease-cost]').waitFor({ timeout: 30_000 });
      const stopped = (await (await fetch(`${net.url}/v1/leases?user=${developer.address}`)).json())
        .leases[0];
      expect(stopped.status).toBe('closed');
      expect(stopped.closedBy).toBe(developer.address);
      expect(stopped.closeReason).toBe('cancelled by user');
    });

    it('a lease started from the CLI appears on My account without a reload', async () => {
      await go('#/account', '[data-testid=my-leases]');
      const rows = page.locator('[data-testid=my-leases] tbody tr td:first-child a');
      const before = await rows.count();
      expect(before).toBe(2); // the browser's leases
      const r = await cli(
        [
          'rent',
          '--json',
          '--key',
          'developer',
          '--',
          'node',
          '-e',
          'console.log("from the cli")',
          '<img src=x onerror="window.__pwned=1">',
        ],
        {
          ...env,
          AETHIR_API: net.url,
        },
      );
      expect(r.code).toBe(0);
      const leaseId = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).lease;
      await page
        .locator(`[data-testid=my-leases] a[href="#/explorer/${leaseId}"]`)
        .waitFor({ timeout: 15_000 });
      expect(await rows.count()).toBe(before + 1);
      // a workload's command is a stranger's text: shown as text, never run as markup
      expect(await page.locator('[data-testid=my-leases]').textContent()).toContain(
        '<img src=x onerror="window.__pwned=1">',
      );
      expect(await page.locator('[data-testid=my-leases] img').count()).toBe(0);
      expect(await page.evaluate(() => (window as any).__pwned)).toBe(undefined);

      // the explorer finds it, and a transaction shows its decoded payload
      await go(`#/explorer/${leaseId}`, '.page-explorer .card');
      expect(await page.locator('.page-explorer').textContent()).toContain('from the cli');
      const { transactions } = await (
        await fetch(`${net.url}/v1/transactions?type=lease.open&limit=1`)
      ).json();
      // the list of blocks is on the explorer's own page only: the lease page shown before also has a
      // search box, and a fill made there is replaced when the navigation's render lands
      await go('#/explorer', '.page-explorer .cards.two');
      await page.locator('[data-testid=explorer-search]').fill(transactions[0].id);
      await page.locator('[data-testid=explorer-search]').press('Enter');
      await page.locator('[data-testid=tx-payload]').waitFor();
      expect(JSON.parse((await page.locator('[data-testid=tx-payload]').textContent())!)).toEqual(
        transactions[0].tx.payload,
      );
      await shot('explorer-tx');
      // an address: its account and the transactions it sent
      await page.locator('[data-testid=explorer-search]').fill(developer.address);
      await page.locator('[data-testid=explorer-search]').press('Enter');
      await page.locator('.page-explorer td', { hasText: 'lease.open' }).first().waitFor();
      expect(await page.locator('.page-explorer').textContent()).toContain(developer.address);
      await go('#/explorer', '.page-explorer table');
      await shot('explorer');
      expect(await axe()).toEqual([]);
    });

    it('a new block does not redraw the explorer under a user typing in its search box', async () => {
      // the list of blocks is on the explorer's own page only: the lease page shown before also has a
      // search box, and a fill made there is replaced when the navigation's render lands
      await go('#/explorer', '.page-explorer .cards.two');
      // the next redraw's list of blocks answers late: it is still being built while the user types
      const blocks = '**/v1/blocks?limit=15';
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      await page.route(blocks, async (route) => {
        await held;
        await route.continue();
      });
      try {
        const asked = page.waitForRequest((r) => r.url().includes('/v1/blocks?limit=15'), {
          timeout: 30_000,
        });
        // a transaction, so a block, so a live redraw of the page
        const t = await cli(['transfer', '--key', 'developer', `ath1${'5'.repeat(40)}`, '1'], {
          ...env,
          AETHIR_API: net.url,
        });
        expect(t.code, t.stderr).toBe(0);
        await asked;
        await page.locator('[data-testid=explorer-search]').fill('typed while a block came');
        const answered = page.waitForResponse((r) => r.url().includes('/v1/blocks?limit=15'));
        release();
        await answered;
        await page.waitForTimeout(300); // the redraw finishes; it used to replace the page, input and all
        expect(await page.locator('[data-testid=explorer-search]').inputValue()).toBe(
          'typed while a block came',
        );
      } finally {
        release();
        await page.unroute(blocks);
      }
    });

    it('locks and votes from the browser, and the tally changes', async () => {
      await go('#/governance', '[data-testid=lock-form]');
      await page.locator('#lock-amount').fill('100000');
      await page.locator('#lock-days').fill('1400');
      await page.locator('[data-testid=lock-form] button').click();
      await page.locator('[data-testid=my-lock]', { hasText: 'Your lock: 100,000 ATH' }).waitFor();
      const lock = await (await fetch(`${net.url}/v1/accounts/${developer.address}/lock`)).json();
      expect(lock.amount).toBe((100_000n * 10n ** 18n).toString());

      const p = await cli(
        [
          'dao',
          'propose',
          '--json',
          '--key',
          'developer',
          '--title',
          'Hosts keep 85%',
          '--set',
          'feeHostBps=8500',
        ],
        {
          ...env,
          AETHIR_API: net.url,
        },
      );
      expect(p.code).toBe(0);
      const id = JSON.parse(p.stdout).proposal;
      const card = page.locator(`[data-testid=proposal][data-id="${id}"]`);
      await card.waitFor({ timeout: 15_000 });
      expect(await card.locator('[data-testid=tally-for]').textContent()).toBe('0 ATH');
      await card.locator('[data-testid=vote-for]').click();
      await expect
        .poll(
          () => page.locator(`[data-testid=proposal][data-id="${id}"] [data-testid=tally-for]`).textContent(),
          { timeout: 15_000 },
        )
        .not.toBe('0 ATH');
      // the vote counted the lock's weight (it decays with time): no more than just after locking,
      // no less than now
      const weightAfter = BigInt(
        (await (await fetch(`${net.url}/v1/accounts/${developer.address}/lock`)).json()).weight,
      );
      const st = await (await fetch(`${net.url}/v1/dao/proposals/${id}`)).json();
      expect(BigInt(st.tally.for) <= BigInt(lock.weight) && BigInt(st.tally.for) >= weightAfter).toBe(true);
      expect(BigInt(st.tally.against)).toBe(0n);
      await expect
        .poll(async () => (await card.locator('[data-testid=tally-for]').textContent())!.replaceAll(',', ''))
        .toBe(`${formatAth(BigInt(st.tally.for), 2)} ATH`);
      await shot('governance');
      expect(await axe()).toEqual([]);
    });

    it('charts draw, and no request left for another host', async () => {
      await go('#/charts', '.uplot');
      expect(await page.locator('.uplot').count()).toBe(2);
      await page.locator('[data-testid=price-chart] li').first().waitFor();
      await shot('charts');
      expect(await axe()).toEqual([]);
      const origin = new URL(net.url).origin;
      expect(requests.length).toBeGreaterThan(10);
      expect(requests.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:'))).toEqual([]);
      expect(errors).toEqual([]);
      // the terminal and the charts came as code-split parts; nothing else under web/dist is served
      expect(
        requests.filter((u) => /\/chunks\/(xterm|uPlot)[^/]*\.js$/.test(u)).length,
      ).toBeGreaterThanOrEqual(2);
      for (const evil of ['..%2Findex.html', '..%2F..%2Fpackage.json', 'x.map', '.js', '%2e%2e%2fapp.js'])
        expect((await fetch(`${net.url}/chunks/${evil}`)).status).toBe(404);
    });
  },
);
