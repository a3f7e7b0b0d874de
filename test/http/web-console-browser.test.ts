import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/db/schema.js';
import type { Approver } from '../../src/policy/decide.js';
import { RolloutStore } from '../../src/rollouts/rollout-store.js';
import { BACKENDS } from '../helpers/backends.js';
import { launchBrowser, loopbackContext, screenshot, watchPage, type PageWatch } from '../helpers/browser.js';
import { bob, mergedChange } from '../helpers/change-events.js';
import { heldRollout, startRollgateWithLogin, type RollgateWithLogin } from '../helpers/rollgate-with-login.js';
import { waitFor } from '../helpers/wait-for.js';
import { logInThroughProvider } from './browser-login.js';

/**
 * The console's pages in real headless Chromium, logged in through the OpenID provider: the
 * rollouts list (paged, filtered), a rollout, the environments and the intake's health. Each is
 * photographed at a desktop (1280×900) and a phone (390×844) size into test-output/, and the list
 * and environments pages must fit a phone's width.
 */
const SIZES = [
  { name: '1280', width: 1280, height: 900 },
  { name: '390', width: 390, height: 844 },
] as const;

describe.each(BACKENDS)('%s: the console pages in Chromium', (backend) => {
  let r: RollgateWithLogin;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let watch: PageWatch;
  const ids: Record<string, number> = {};

  beforeAll(async () => {
    browser = await launchBrowser();
    r = await startRollgateWithLogin(backend);
    // a real held rollout, through the pipeline: its decision names the owner, its event the submitter
    ids.held = (await heldRollout(r, 971, 'Raise the payment limits')).id;
    const store = new RolloutStore(r.service.database.db);
    const seed = async (key: string, changeNumber: number, environment: string, status: RolloutStatus, patch: { approvers?: Approver[]; startedAt?: Date; finishedAt?: Date } = {}) => {
      const row = await store.create({
        rolloutKey: key,
        rule: 'payments-api-prod',
        workflow: 'deploy-service',
        environment,
        project: 'payments/api',
        branch: 'main',
        changeNumber,
        patchset: 1,
        revision: `${changeNumber}`.padEnd(40, 'a'),
        newRev: undefined,
        subject: `Change ${changeNumber} to ${environment}`,
        decision: 'allow',
        reasons: [],
        approvers: patch.approvers ?? [],
        justification: undefined,
        stepIds: ['build', 'deploy'],
      });
      // waiting with no wake-up time: the runner leaves it, and the queue behind it, alone
      await r.service.database.db
        .updateTable('rollouts')
        .set({ status, started_at: patch.startedAt ?? null, finished_at: patch.finishedAt ?? null })
        .where('id', '=', row!.id)
        .execute();
      ids[key] = row!.id;
    };
    const hourAgo = new Date(Date.now() - 3_600_000);
    await seed('deployed', 972, 'staging', 'succeeded', { approvers: [{ accountId: 1000001, display: 'alice', value: 2, via: 'Code-Review +2', roles: ['prod-deployer'], groups: ['sre'] }], startedAt: hourAgo, finishedAt: hourAgo });
    await seed('waiting', 973, 'staging', 'waiting', { startedAt: new Date() });
    await seed('queued1', 974, 'staging', 'queued');
    await seed('queued2', 975, 'staging', 'queued');
    await seed('denied', 976, 'production', 'denied');
    // a rejected line, and a merge only the back-fill finds (Gerrit's stream never told)
    await r.service.intake.add('this is not a Gerrit event', 'stream');
    const missed = mergedChange(977, bob, { subject: 'Found by back-fill', submitted: new Date().toISOString().replace('T', ' ').replace('Z', '000000') });
    r.rest.setChange(missed);
    await waitFor('the first back-fill (sets the checkpoint)', async () => (await r.service.database.db.selectFrom('checkpoints').select('name').where('name', '=', 'backfill.merged-since').executeTakeFirst()) ?? undefined);
    await r.service.backfill!.sweep('test: a merge the stream missed');
    await r.service.backfill!.idle();
    await waitFor('the back-filled rollout', () => r.service.database.db.selectFrom('rollouts').select('id').where('change_number', '=', 977).executeTakeFirst());

    context = await loopbackContext(browser);
    page = await context.newPage();
    watch = watchPage(page, r.url);
    await page.goto(`${r.url}/rollouts`);
    watch.consoleErrors.length = 0; // Chromium logs the 401 of the login page, which is meant
    await logInThroughProvider(page, r.url, 'alice');
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await r?.stop();
  });

  /** Screenshots of the page at both sizes; with `fits`, the page must be no wider than a phone. */
  const photograph = async (name: string, o: { fits: boolean }) => {
    for (const size of SIZES) {
      await page.setViewportSize({ width: size.width, height: size.height });
      if (o.fits) {
        const { scroll, inner } = await page.evaluate(() => ({ scroll: document.scrollingElement!.scrollWidth, inner: window.innerWidth }));
        expect(scroll, `${name} at ${size.width} px is ${scroll} px wide`).toBeLessThanOrEqual(inner + 1);
      }
      await screenshot(page, `${name}-${size.name}`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  };
  const listed = async () => (await page.locator('tr[data-rollout]').evaluateAll((rows) => rows.map((row) => Number(row.getAttribute('data-rollout')))));

  it('lists rollouts a page at a time, newest first, with next and previous links, and filters by environment', async () => {
    const all = [...Object.values(ids), (await r.service.database.db.selectFrom('rollouts').select('id').where('change_number', '=', 977).executeTakeFirstOrThrow()).id].sort((a, b) => b - a);
    await page.goto(`${r.url}/rollouts?limit=3`);
    expect(await listed()).toEqual(all.slice(0, 3));
    expect(await page.locator('nav.pager a[rel=prev]').count()).toBe(0);
    await page.locator('nav.pager a[rel=next]').click();
    await page.waitForURL((u) => u.searchParams.has('before'));
    expect(await listed()).toEqual(all.slice(3, 6));
    await page.locator('nav.pager a[rel=prev]').click();
    await page.waitForURL((u) => u.searchParams.has('after'));
    expect(await listed()).toEqual(all.slice(0, 3));
    // every time is given in UTC beside the relative one
    expect(await page.locator('tr[data-rollout] .when .utc').first().textContent()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    await page.goto(`${r.url}/rollouts`);
    await page.locator('form.filters select[name=environment]').selectOption('staging');
    await page.locator('form.filters button').click();
    await page.waitForURL((u) => u.searchParams.get('environment') === 'staging');
    expect(await listed()).toEqual([ids.queued2!, ids.queued1!, ids.waiting!, ids.deployed!]);
    await photograph('console-rollouts', { fits: true });

    // a filter value that makes no sense is answered in words
    await page.locator('form.filters input[name=change]').fill('abc');
    await page.locator('form.filters button').click();
    await page.waitForURL((u) => u.searchParams.get('change') === 'abc');
    expect(await page.locator('p.problem').textContent()).toBe('Bad filter: change: “abc” is not a change number (a whole number such as 12345).');
    watch.consoleErrors.length = 0; // Chromium logs the page's 400, which is meant
  });

  it('shows a held rollout with its owner and submitter, and its steps as not run', async () => {
    await page.goto(`${r.url}/rollouts/${ids.held}`);
    expect(await page.locator('section.change .owner').textContent()).toBe('bob (Bob Dev)');
    expect(await page.locator('section.change .submitter').textContent()).toBe('alice (Alice Ops)');
    expect(await page.locator('li.step .badge').allTextContents()).toEqual(['not run', 'not run']);
    // the steps drawn as a graph: a box per step, an arrow for deploy's need of build
    const graph = page.locator('section.steps svg.step-graph.wide');
    expect(await graph.locator('g.node').evaluateAll((g) => g.map((x) => [x.getAttribute('data-node'), x.getAttribute('data-status')]))).toEqual([['build', 'not_run'], ['deploy', 'not_run']]);
    expect(await graph.locator('path.edge').evaluateAll((p) => p.map((x) => `${x.getAttribute('data-from')}->${x.getAttribute('data-to')}`))).toEqual(['build->deploy']);
    expect(await page.locator('section.timeline').textContent()).toContain('No step has started yet.');
    await photograph('console-rollout', { fits: true });
    // at a phone's width the graph is drawn top to bottom instead: no wider than the window, its text still readable
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await graph.isVisible()).toBe(false);
    const narrow = page.locator('section.steps svg.step-graph.narrow');
    const { right, inner, textHeight } = await narrow.evaluate((svg) => ({
      right: svg.getBoundingClientRect().right,
      inner: window.innerWidth,
      textHeight: Math.min(...Array.from(svg.querySelectorAll('text'), (t) => t.getBoundingClientRect().height)),
    }));
    expect(right, `the graph ends at ${right} px of ${inner}`).toBeLessThanOrEqual(inner);
    expect(textHeight, 'the smallest text in the graph, in px').toBeGreaterThanOrEqual(12);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('shows a rollout that ran with a timeline of its steps in UTC, bars in proportion', async () => {
    const end = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
    const at = (s: number) => new Date(end.getTime() - s * 1000);
    const ran = (stepId: string, from: Date, to: Date) =>
      r.service.database.db.updateTable('rollout_steps').set({ status: 'succeeded', attempts: 1, started_at: from, finished_at: to, duration_ms: to.getTime() - from.getTime() }).where('rollout_id', '=', ids.deployed!).where('step_id', '=', stepId).execute();
    await ran('build', at(90), at(60));
    await ran('deploy', at(60), at(0));
    await page.goto(`${r.url}/rollouts/${ids.deployed}`);
    expect(await page.locator('svg.step-graph.wide g.node').evaluateAll((g) => g.map((x) => x.getAttribute('data-status')))).toEqual(['succeeded', 'succeeded']);
    const timeline = page.locator('section.timeline');
    expect(await timeline.locator('li[data-timeline-step="build"] .span').textContent()).toBe(`${at(90).toISOString().replace('.000', '')} → ${at(60).toISOString().replace('.000', '')} (30.0 s)`);
    // build took a third of the 90 s, deploy the rest
    const widths = await timeline.locator('svg.bar').evaluateAll((bars) => bars.map((b) => Math.round(b.querySelectorAll('rect')[1]!.getBoundingClientRect().width / b.getBoundingClientRect().width * 3)));
    expect(widths).toEqual([1, 2]);
    await photograph('console-rollout-ran', { fits: true });
    // on a phone the step cards stack: each one is whole on the screen, none cut off at the right
    await page.setViewportSize({ width: 390, height: 844 });
    const rights = await page.locator('li.step').evaluateAll((cards) => cards.map((c) => c.getBoundingClientRect().right));
    expect(Math.max(...rights)).toBeLessThanOrEqual(390);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('shows per environment what is deployed, what runs now, and the queue behind it in order', async () => {
    await page.locator('header nav a', { hasText: 'Environments' }).click();
    await page.waitForURL(`${r.url}/environments`);
    const staging = page.locator('section.environment[data-environment="staging"]');
    expect(await staging.locator('dl.deployed').getAttribute('data-rollout')).toBe(String(ids.deployed));
    expect(await staging.locator('.approved-by').textContent()).toBe('alice (prod-deployer via sre)');
    expect(await staging.locator('ul.running li').getAttribute('data-rollout')).toBe(String(ids.waiting));
    expect(await staging.locator('ol.queue li').evaluateAll((li) => li.map((x) => Number(x.getAttribute('data-rollout'))))).toEqual([ids.queued1, ids.queued2]);
    const production = page.locator('section.environment[data-environment="production"]');
    expect(await production.locator('ul.held li[data-rollout]').evaluateAll((li) => li.map((x) => Number(x.getAttribute('data-rollout'))))).toContain(ids.held);
    await photograph('console-environments', { fits: true });
  });

  it('shows the intake: stream connected and leader, the last event, the rejected line, and what the back-fill found', async () => {
    await page.locator('header nav a', { hasText: 'Intake' }).click();
    await page.waitForURL(`${r.url}/intake`);
    expect(await page.locator('.stream-state').textContent()).toBe('connected');
    expect(await page.locator('.leader-state').textContent()).toBe('yes: this replica holds the stream');
    expect(await page.locator('.last-event').textContent()).toMatch(/ from (stream|backfill), /);
    expect(await page.locator('section.rejected .count').textContent()).toBe('1');
    expect(await page.locator('section.rejected table.events').textContent()).toContain('this is not a Gerrit event');
    // a later sweep (each reconnect or gap starts one) may have found nothing since; the merge stays listed
    expect(await page.locator('.backfill-summary').textContent()).toMatch(/^Started \d+ s ago \S+Z; found (no merge|\d+ merges?) rollgate had missed\.$/);
    expect(await page.locator('section.backfill ul.backfilled').textContent()).toContain('payments/api 977');
    await photograph('console-intake', { fits: false });
    expect(watch.dialogs).toEqual([]);
    expect(watch.consoleErrors, watch.consoleErrors.join('\n')).toEqual([]);
  });
});
