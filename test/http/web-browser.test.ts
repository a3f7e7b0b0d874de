import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { launchBrowser, loopbackContext, screenshot, watchPage } from '../helpers/browser.js';
import { alice, commentAddedEvent } from '../helpers/change-events.js';
import { heldRollout, startRollgateWithLogin, type RollgateWithLogin } from '../helpers/rollgate-with-login.js';
import { waitFor } from '../helpers/wait-for.js';
import { logInThroughProvider } from './browser-login.js';

/**
 * The web page in real headless Chromium, against rollgate on the Gerrit doubles with a real
 * OpenID provider: people log in through the provider's own login form, see what their roles
 * allow, act, and watch the rollout run, with the page's CSP and script in force.
 */
const XSS = '<script>alert(1)</script>';

describe.each(BACKENDS)('%s: the web page in Chromium, logged in through the OpenID provider', (backend) => {
  let r: RollgateWithLogin;
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchBrowser();
    r = await startRollgateWithLogin(backend);
  });

  afterAll(async () => {
    await browser?.close();
    await r?.stop();
  });

  const logIn = (page: Page, login: string) => logInThroughProvider(page, r.url, login);

  it('alice logs in, approves a held rollout with a justification, and watches it run to succeeded', async () => {
    const { id } = await heldRollout(r, 951, `Raise limits ${XSS}`);
    const context = await loopbackContext(browser);
    const page = await context.newPage();
    const watch = watchPage(page, r.url);
    try {
      // the link in rollgate's review message; like the API, the page needs a login first
      const first = await page.goto(`${r.url}/rollouts/${id}`);
      expect(first?.status()).toBe(401);
      expect(await page.locator('main h1').textContent()).toBe('Log in');
      watch.consoleErrors.length = 0; // Chromium logs the 401 of the login page, which is meant
      await logIn(page, 'alice');
      expect(page.url()).toBe(`${r.url}/rollouts/${id}`);
      expect(await page.locator('h1 .badge').textContent()).toBe('held');
      expect(await page.locator('section.change .subject').textContent()).toBe(`Raise limits ${XSS}`);
      expect(await page.locator('header .operator').textContent()).toBe('alice');
      expect(await page.locator('header .roles').textContent()).toBe('(prod-deployer via sre)');
      expect(await page.locator('form.action button').allTextContents()).toEqual(['Approve', 'Deny']);

      await page.locator('form.action-approve input[name=justification]').fill('canary dashboards are green');
      await page.locator('form.action-approve button').click();
      await page.waitForURL((u) => u.pathname === `/rollouts/${id}` && u.searchParams.has('msg'));
      expect(await page.locator('p.flash').textContent()).toContain('alice');
      await page.locator('h1 .badge', { hasText: 'succeeded' }).waitFor({ timeout: 20_000 });
      expect(await page.locator('li.step[data-step="build"] .step-head .badge').textContent()).toBe('succeeded');
      expect(await page.locator('li.step[data-step="deploy"] .step-head .badge').textContent()).toBe('succeeded');
      expect(await page.locator('section.decision table.approvers').textContent()).toContain('prod-deployer via sre');
      expect(await page.locator('p.justification').textContent()).toBe('INC-951');
      // settled: nothing left for alice but a rollback
      expect(await page.locator('form.action button').allTextContents()).toEqual(['Roll back']);
      await screenshot(page, 'approve-held-rollout');

      const approval = await waitFor('the approval message on the change', () => r.rest.reviews.find((m) => m.changeNumber === 951 && /approved via rollgate by alice/.test(m.message)));
      expect(approval.message).toContain('canary dashboards are green');
      const row = await r.service.database.db.selectFrom('approvals').select(['username', 'source', 'justification']).where('rollout_id', '=', id).executeTakeFirstOrThrow();
      expect(row).toEqual({ username: 'alice', source: 'api', justification: 'canary dashboards are green' });

      // the audit trail has it too, found through the page's own filter form
      await page.locator('header nav a', { hasText: 'Audit' }).click();
      await page.locator('form.filters input[name=rollout]').fill(String(id));
      await page.locator('form.filters button').click();
      await page.waitForURL((u) => u.pathname === '/audit' && u.searchParams.get('rollout') === String(id));
      expect(await page.locator('table.audit').textContent()).toContain('approved by alice via rollgate: canary dashboards are green');
      await screenshot(page, 'audit-trail');
      expect(watch.dialogs).toEqual([]);
      expect(watch.consoleErrors, watch.consoleErrors.join('\n')).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('carol, holding no role, gets no buttons; her open page follows the rollout live when alice approves in Gerrit', async () => {
    const { id, change } = await heldRollout(r, 952, XSS);
    const context = await loopbackContext(browser);
    const page = await context.newPage();
    const watch = watchPage(page, r.url);
    try {
      await page.goto(`${r.url}/rollouts?status=held`);
      expect(await page.locator('main h1').textContent()).toBe('Log in');
      watch.consoleErrors.length = 0; // Chromium logs the 401 of the login page, which is meant
      await logIn(page, 'carol');
      expect(page.url()).toBe(`${r.url}/rollouts?status=held`);
      expect(await page.locator('header .operator').textContent()).toBe('carol');
      const listed = page.locator(`tr[data-rollout="${id}"]`);
      expect(await listed.locator('.subject').textContent()).toBe(XSS);
      await listed.locator(`a[href="/rollouts/${id}"]`).click();
      await page.waitForURL(`${r.url}/rollouts/${id}`);
      expect(await page.locator('form.action').count()).toBe(0);
      expect(await page.locator('section.actions').textContent()).toContain('Your roles (none) allow no action on this rollout while it is held.');

      r.ssh.push(commentAddedEvent(change, alice, '/rollout approve checked the diff'));
      await page.locator('h1 .badge', { hasText: 'succeeded' }).waitFor({ timeout: 20_000 });
      expect(await page.locator('main').getAttribute('data-live')).toBeNull();

      expect(watch.dialogs).toEqual([]);
      expect(watch.consoleErrors, watch.consoleErrors.join('\n')).toEqual([]);

      // logged out, the pages ask for a login again
      await page.locator('header form.logout button').click();
      await page.locator('header a.login').waitFor();
      expect(await page.locator('main h1').textContent()).toBe('Log in');
    } finally {
      await context.close();
    }
  });
});
