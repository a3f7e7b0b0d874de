import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/**
 * Real headless Chromium for the web page's tests: Debian's `chromium` package, driven by
 * playwright-core (which downloads no browser of its own). A missing browser fails the test with
 * how to install it; it never skips.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Screenshots go here; the folder is git-ignored. */
export const TEST_OUTPUT = path.resolve('test-output');

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM_PATH}: install it with "apt-get install chromium" (Debian; .ci/run does this), or point CHROMIUM_PATH at a Chromium binary`);
  }
  // Chromium refuses to start its sandbox as root (CI containers run as root)
  const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  return chromium.launch({ executablePath: CHROMIUM_PATH, args, headless: true });
}

/**
 * A fresh browser context (its own cookies) that reaches loopback only: anything else a page asks
 * for (the IdP's login page imports a web font) is refused, so tests never leave the machine.
 */
export async function loopbackContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.route('**/*', (route) => {
    const host = new URL(route.request().url()).hostname;
    return host === '127.0.0.1' || host === '[::1]' || host === 'localhost' ? route.continue() : route.abort('blockedbyclient');
  });
  return context;
}

/** What a page did that a test should look at: dialogs (an `alert` means script ran) and console errors (CSP refusals land there). */
export interface PageWatch {
  readonly dialogs: string[];
  readonly consoleErrors: string[];
}

/** Watches `page`; console errors count only when they come from `origin` (rollgate, not the IdP's pages). */
export function watchPage(page: Page, origin: string): PageWatch {
  const watch: PageWatch = { dialogs: [], consoleErrors: [] };
  const ours = (url: string) => url.startsWith(origin);
  page.on('dialog', (d) => {
    watch.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && ours(m.location().url || page.url())) watch.consoleErrors.push(`${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (err) => {
    if (ours(page.url())) watch.consoleErrors.push(err.message);
  });
  return watch;
}

/** Saves a full-page screenshot as test-output/<name>.png and prints where it is. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(TEST_OUTPUT, { recursive: true });
  const file = path.join(TEST_OUTPUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`[rollgate tests] screenshot: ${file}`);
  return file;
}
