import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { launchBrowser, loopbackContext, screenshot, watchPage } from '../helpers/browser.js';
import { heldRollout, startRollgateWithLogin, type RollgateWithLogin } from '../helpers/rollgate-with-login.js';
import { logInThroughProvider } from './browser-login.js';

/**
 * A running step's output on the rollout page, in real Chromium: it appears as the step prints
 * it (streamed, not by reloading the page), every attempt keeps its own, and the stream resumes
 * after the last chunk a client got when it reconnects.
 */
// the build prints a line, then waits for a file from the test before each next line
const BUILD = `const fs = require('fs'), p = require('path'), d = process.env.RECORD_DIR;
const wait = (f) => new Promise((r) => { const t = setInterval(() => { if (fs.existsSync(p.join(d, f))) { clearInterval(t); r(); } }, 25); });
(async () => { console.log('pulling image'); await wait('one'); console.log('image pulled'); await wait('two'); console.log('build done'); })();`;
// the deploy fails on its first attempt
const DEPLOY = `const fs = require('fs'), f = require('path').join(process.env.RECORD_DIR, 'deployed-once');
if (!fs.existsSync(f)) { fs.writeFileSync(f, ''); console.error('registry timeout'); process.exit(5); }
console.log('deployed');`;
const WORKFLOW = `name: deploy-service
steps:
  - id: build
    run: ["node", "-e", ${JSON.stringify(BUILD)}]
    timeout: 60s
  - id: deploy
    needs: [build]
    run: ["node", "-e", ${JSON.stringify(DEPLOY)}]
    retry: { attempts: 2, backoff: 1s, max_backoff: 1s }
`;

interface ServerEvent {
  readonly id?: string;
  readonly event: string;
  readonly data: string;
}

/** The events of a whole server-sent-events body. */
function serverEvents(body: string): ServerEvent[] {
  return body
    .split('\n\n')
    .filter((block) => /^(id|event|data):/m.test(block))
    .map((block) => {
      const field = (name: string) => block.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
      const id = field('id');
      return { ...(id !== undefined ? { id } : {}), event: field('event') ?? 'message', data: field('data') ?? '' };
    });
}

describe.each(BACKENDS)('%s: live step output in Chromium', (backend) => {
  let r: RollgateWithLogin;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let id: number;
  let cookie: string;

  beforeAll(async () => {
    browser = await launchBrowser();
    r = await startRollgateWithLogin(backend, { workflow: WORKFLOW });
    context = await loopbackContext(browser);
    page = await context.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await r?.stop();
  });

  it('shows what a running step prints as it prints it, without reloading the page', async () => {
    const watch = watchPage(page, r.url);
    ({ id } = await heldRollout(r, 981, 'Roll out the new image'));
    await page.goto(`${r.url}/rollouts/${id}`);
    await logInThroughProvider(page, r.url, 'alice');
    watch.consoleErrors.length = 0;
    cookie = (await context.cookies(r.url)).map((c) => `${c.name}=${c.value}`).join('; ');
    await page.locator('form.action-approve input[name=justification]').fill('image is signed');
    await page.locator('form.action-approve button').click();

    const build = page.locator('pre[data-output="build#1"]');
    // a page drawn as the step started may show it still pending: the page drawn again shows it running
    await page.locator('li.step[data-step="build"][data-status="running"] pre[data-output="build#1"]', { hasText: 'pulling image' }).waitFor({ timeout: 20_000 });
    // from here on the page must not be drawn again: what comes, comes by the stream
    await page.evaluate(() => ((window as unknown as { drawnOnce: boolean }).drawnOnce = true));
    writeFileSync(path.join(r.recordDir, 'one'), '');
    await build.filter({ hasText: 'image pulled' }).waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => (window as unknown as { drawnOnce?: boolean }).drawnOnce)).toBe(true);
    expect(await build.textContent()).toBe('pulling image\nimage pulled\n');
    expect(await page.locator('li.step[data-step="build"] .step-head .badge').textContent()).toBe('running');
    for (const size of [
      { width: 1280, height: 900 },
      { width: 390, height: 844 },
    ]) {
      await page.setViewportSize(size);
      await screenshot(page, `live-output-${backend}-${size.width}`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });

    writeFileSync(path.join(r.recordDir, 'two'), '');
    await page.locator('h1 .badge', { hasText: 'succeeded' }).waitFor({ timeout: 30_000 });
    // each line once: the page drawn after the step ended and the stream do not repeat each other
    expect(await page.locator('pre[data-output="build#1"]').textContent()).toBe('pulling image\nimage pulled\nbuild done\n');
    // the deploy's failed first attempt keeps its own output beside the second's
    expect(await page.locator('li.step[data-step="deploy"] li.attempt').count()).toBe(2);
    expect(await page.locator('pre[data-output="deploy#1"]').textContent()).toBe('registry timeout\n');
    expect(await page.locator('pre[data-output="deploy#2"]').textContent()).toBe('deployed\n');
    expect(await page.locator('li.step[data-step="deploy"] li.attempt[data-attempt="1"] summary').textContent()).toMatch(/attempt 1\s*failed.*exit code 5/);
    expect(existsSync(path.join(r.recordDir, 'deployed-once'))).toBe(true);
    expect(watch.consoleErrors).toEqual([]);
  });

  it('streams a rollout’s output as server-sent events that resume after the last one a client got', async () => {
    const url = `${r.url}/api/rollouts/${id}/output`;
    const whole = await fetch(url, { headers: { cookie } });
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const events = serverEvents(await whole.text());
    expect(events.at(-1)!.event).toBe('end');
    const output = events.filter((e) => e.event === 'output').map((e) => ({ id: Number(e.id), ...(JSON.parse(e.data) as { step: string; attempt: number; text: string }) }));
    expect(output.map((o) => `${o.step}#${o.attempt}`).filter((v, i, all) => all.indexOf(v) === i)).toEqual(['build#1', 'deploy#1', 'deploy#2']);
    expect(output.filter((o) => o.step === 'build').map((o) => o.text).join('')).toBe('pulling image\nimage pulled\nbuild done\n');

    // a client that got the first chunk and lost the connection gets the rest, once
    const resumed = serverEvents(await (await fetch(url, { headers: { cookie, 'last-event-id': String(output[0]!.id) } })).text());
    expect(resumed.filter((e) => e.event === 'output').map((e) => Number(e.id))).toEqual(output.slice(1).map((o) => o.id));

    const junk = await fetch(`${url}?after=yesterday`, { headers: { cookie } });
    expect(junk.status).toBe(400);
    expect(((await junk.json()) as { error: string }).error).toBe('the output to resume after must be a chunk id (a number), got "yesterday"');
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(`${r.url}/api/rollouts/99999/output`, { headers: { cookie } })).status).toBe(404);
  });

  it('gives each attempt’s whole output and lists every attempt in the API', async () => {
    const first = await fetch(`${r.url}/api/rollouts/${id}/steps/deploy/attempts/1/output`, { headers: { cookie } });
    expect(first.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await first.text()).toBe('registry timeout\n');
    const view = (await (await fetch(`${r.url}/api/rollouts/${id}`, { headers: { cookie, accept: 'application/json' } })).json()) as {
      steps: Array<{ id: string; attemptLog: Array<{ number: number; status: string; exitCode: number | null; error: string | null }> }>;
    };
    expect(view.steps.find((s) => s.id === 'deploy')!.attemptLog.map((a) => [a.number, a.status, a.exitCode, a.error])).toEqual([
      [1, 'failed', 5, 'exit code 5'],
      [2, 'succeeded', 0, null],
    ]);
    const missing = await fetch(`${r.url}/api/rollouts/${id}/steps/deploy/attempts/3/output`, { headers: { cookie } });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toBe(`rollout ${id} has no attempt 3 of step "deploy"`);
  });
});
