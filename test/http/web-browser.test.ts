import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startService, type RunningService } from '../../src/service.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { launchBrowser, screenshot, watchPage } from '../helpers/browser.js';
import { alice, bob, carol, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { doubleSettings } from '../helpers/double-settings.js';
import { startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * The web page in real headless Chromium, against rollgate running on the Gerrit doubles: what a
 * person sees, with the page's own CSP and script in force.
 */
const FIXTURES = path.resolve('test/fixtures');
const XSS = '<script>alert(1)</script>';

describe.each(BACKENDS)('%s: the web page in Chromium', (backend) => {
  let ssh: SshGerritDouble;
  let rest: RestGerritDouble;
  let database: TestDatabase;
  let service: RunningService;
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchBrowser();
    ssh = await startSshGerritDouble();
    rest = await startRestGerritDouble();
    rest.addAccount(alice, [GROUPS.sre]);
    rest.addAccount(bob, [GROUPS.developers]);
    rest.addAccount(carol, []);
    database = await createTestDatabase(backend);
    const tmp = mkdtempSync(path.join(tmpdir(), 'rollgate-browser-'));
    service = await startService(
      loadConfig({
        PATH: process.env.PATH,
        PORT: '0',
        ROLLGATE_DATA_DIR: 'memory://',
        ...(database.url ? { DATABASE_URL: database.url } : {}),
        ROLLGATE_POLICY_DIR: path.join(FIXTURES, 'policies'),
        ROLLGATE_WORK_DIR: FIXTURES,
        ROLLGATE_SETTLE_MS: '0',
        ROLLGATE_STEP_ENV: 'RECORD_DIR',
        RECORD_DIR: tmp,
        ...doubleSettings(tmp, { rest, ssh }),
      }),
      silentLogger(),
      { idleMs: 50 },
    );
    await ssh.waitForSession(1);
  });

  afterAll(async () => {
    await browser?.close();
    await service?.stop();
    await database?.drop();
    await ssh?.close();
    await rest?.close();
  });

  /** Merges a change bob approved himself: rollgate holds it (no self-approval). Returns the rollout id. */
  const heldMerge = async (number: number, subject: string) => {
    const change = mergedChange(number, bob, { subject, commitMessage: `${subject}\n\nRollout-Justification: INC-${number}\n`, votes: { 'Code-Review': [{ account: bob, value: 2 }] } });
    rest.setChange(change);
    ssh.push(changeMergedEvent(change));
    const row = await waitFor('the held rollout', () => service.database.db.selectFrom('rollouts').select(['id', 'status']).where('change_number', '=', number).executeTakeFirst());
    expect(row.status).toBe('held');
    return { id: row.id, change };
  };

  it('shows a held rollout with its markup subject as text, and follows it live to succeeded', async () => {
    const { id, change } = await heldMerge(901, XSS);
    const page = await browser.newPage();
    const watch = watchPage(page, service.url);
    try {
      await page.goto(`${service.url}/`);
      const row = page.locator(`tr[data-rollout="${id}"]`);
      expect(await row.locator('.subject').textContent()).toBe(XSS);
      expect(await row.locator('.badge').textContent()).toBe('held');
      await row.locator(`a[href="/rollouts/${id}"]`).click();
      await page.waitForURL(`${service.url}/rollouts/${id}`);
      expect(await page.locator('h1').textContent()).toBe(`Rollout #${id}: payments-api-prod to production held`);
      expect(await page.locator('section.change .subject').textContent()).toBe(XSS);
      expect(await page.locator('section.decision ul.reasons').textContent()).toContain("bob's Code-Review +2 does not count: bob owns the change (no self-approval)");
      // nobody is logged in and login is not configured: no buttons, and the page says why
      expect(await page.locator('header .who').textContent()).toContain('Login is not configured');
      expect(await page.locator('form.action').count()).toBe(0);

      // approved in Gerrit meanwhile: the open page follows the rollout without anyone reloading it
      ssh.push(commentAddedEvent(change, alice, '/rollout approve checked the diff'));
      await page.locator('h1 .badge', { hasText: 'succeeded' }).waitFor({ timeout: 20_000 });
      expect(await page.locator('li.step[data-step="build"] .badge').textContent()).toBe('succeeded');
      expect(await page.locator('li.step[data-step="deploy"] .badge').textContent()).toBe('succeeded');
      expect(await page.locator('section.decision table.approvers').textContent()).toContain('prod-deployer via sre');
      expect(await page.locator('main').getAttribute('data-live')).toBeNull();
      await screenshot(page, 'held-rollout-followed-live');
      expect(watch.dialogs).toEqual([]);
      expect(watch.consoleErrors, watch.consoleErrors.join("\n")).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
