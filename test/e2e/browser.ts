import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium (apt-get install -y chromium), or CHROMIUM_PATH. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * A headless Chromium for playing a streamed game: no GPU, no QUIC, no background traffic, a fresh
 * profile; WebRTC may use loopback (the devnet's hosts are on this machine). Shared by the gaming
 * e2e and `npm run bench -- gaming`.
 */
export function launchPlayBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      ...['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'],
      ...['--disable-background-networking', '--disable-component-update', '--disable-sync'],
      '--allow-loopback-in-peer-connection',
    ],
  });
}

/** Imports a key into the console (My account), as a user pastes their secret. */
export async function importConsoleKey(
  page: Page,
  url: string,
  key: { address: string; secretKey: string },
): Promise<void> {
  await page.goto(`${url}/#/account`);
  await page.locator('#import-secret').fill(key.secretKey);
  await page.locator('[data-testid=import-key] button').click();
  await page.locator('[data-testid=my-address]', { hasText: key.address }).waitFor();
}
