// The shared launcher of the browser specs: Debian's chromium, headless, with a fresh profile
// and no background traffic (the page must render with nothing but the gateway).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/// Runs `check(page, url)` in a fresh browser; exits 0 when it passes, 1 (with the reason)
/// when it throws.
export async function withPage(check) {
  const url = process.argv[2];
  if (!url) {
    console.error('usage: node <spec>.mjs <url>');
    process.exit(2);
  }
  const profile = mkdtempSync(join(tmpdir(), 'browser-test-'));
  // A persistent context is how Playwright takes a --user-data-dir: a fresh one per run.
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
  });
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    // Anything the page fetches from outside the gateway is a failure: the page must work
    // offline.
    const origin = new URL(url).origin;
    const outside = [];
    page.on('request', (request) => {
      const target = request.url();
      if (!target.startsWith(origin) && !target.startsWith('data:')) outside.push(target);
    });
    await check(page, url);
    if (outside.length > 0) throw new Error(`the page fetched from outside the gateway: ${outside.join(', ')}`);
    console.log('PASS');
  } catch (error) {
    console.error(`FAIL: ${error.message}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
