import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/db/schema.js';
import { RolloutStore } from '../../src/rollouts/rollout-store.js';
import type { RunningService } from '../../src/service/service.js';
import { startServiceOnDoubles } from '../helpers/service-on-doubles.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { heldRollout, startRollgateWithLogin, type RollgateWithLogin } from '../helpers/rollgate-with-login.js';

/**
 * The server-rendered pages over HTTP, on rollouts written straight into the database in the
 * states the pages must show (no runner picks them up: none is queued). What a browser does with
 * them is in web-browser.test.ts.
 */
const XSS = '<script>alert(1)</script>';

describe.each(BACKENDS)('%s: the web page over HTTP', (backend) => {
  let rest: RestGerritDouble;
  let database: TestDatabase;
  let service: RunningService;
  const ids: Record<string, number> = {};

  beforeAll(async () => {
    rest = await startRestGerritDouble();
    database = await createTestDatabase(backend);
    ({ service } = await startServiceOnDoubles({ name: 'web', database, rest }));
    const store = new RolloutStore(service.database.db);
    const seed = async (key: string, changeNumber: number, status: RolloutStatus, patch: { project?: string; subject?: string } = {}) => {
      const row = await store.create({
        rolloutKey: key,
        rule: 'payments-api-prod',
        workflow: 'deploy-service',
        environment: 'production',
        project: patch.project ?? 'payments/api',
        branch: 'main',
        changeNumber,
        patchset: 2,
        revision: `${changeNumber}`.padEnd(40, 'f'),
        newRev: undefined,
        subject: patch.subject ?? `Change ${changeNumber}`,
        decision: status === 'held' ? 'hold' : 'allow',
        reasons: [{ code: 'approved', message: `alice (prod-deployer via sre) approved with Code-Review +2 ${XSS}` }],
        approvers: [{ accountId: 1000001, display: 'alice', value: 2, via: 'Code-Review +2', roles: ['prod-deployer'], groups: ['sre'] }],
        justification: `INC-${changeNumber} <b>bold</b>`,
        stepIds: ['build', 'deploy'],
      });
      await service.database.db.updateTable('rollouts').set({ status }).where('id', '=', row!.id).execute();
      ids[key] = row!.id;
      return row!.id;
    };
    await seed('held', 801, 'held', { subject: XSS });
    const done = await seed('done', 802, 'succeeded');
    await seed('web', 803, 'failed', { project: 'payments/web' });
    const db = service.database.db;
    await db.updateTable('rollout_steps').set({ status: 'succeeded', attempts: 1, exit_code: 0, duration_ms: 1200, output_tail: '</pre><img src=x onerror=alert(1)>built' }).where('rollout_id', '=', done).where('step_id', '=', 'build').execute();
    await db.updateTable('rollout_steps').set({ status: 'succeeded', attempts: 2, exit_code: 0, duration_ms: 300, note: 'deployed' }).where('rollout_id', '=', done).where('step_id', '=', 'deploy').execute();
    await db
      .insertInto('decisions')
      .values({ rollout_id: done, rule: 'payments-api-prod', project: 'payments/api', change_number: 802, revision: '802'.padEnd(40, 'f'), trigger: 'comment', actor: 'alice', outcome: 'allow', reasons: JSON.stringify([{ code: 'justification-given', message: 'justification: INC-802' }]), inputs: '{}', policy_version: 'abcdef0123456789' })
      .execute();
    // the decision's inputs name the change's owner, as decisions record them from Gerrit REST
    await db
      .insertInto('decisions')
      .values({ rollout_id: ids.web!, rule: 'payments-api-prod', project: 'payments/web', change_number: 803, revision: '803'.padEnd(40, 'f'), trigger: 'merge', actor: null, outcome: 'allow', reasons: '[]', inputs: JSON.stringify({ owner: { accountId: 1000005, username: 'erin', name: 'Erin Web', email: 'erin@example.com' }, uploader: null }), policy_version: 'abcdef0123456789' })
      .execute();
    await db.updateTable('rollouts').set({ finished_at: new Date() }).where('id', '=', done).execute();
  });

  afterAll(async () => {
    await service?.stop();
    await database?.drop();
    await rest?.close();
  });

  const get = async (pathAndQuery: string) => {
    const res = await fetch(`${service.url}${pathAndQuery}`, { redirect: 'manual' });
    return { res, text: await res.text() };
  };
  /** The rollout ids in the list's rows, in order. */
  const listed = (text: string) => [...text.matchAll(/<tr data-rollout="(\d+)">/g)].map((m) => Number(m[1]));

  it('lists rollouts newest first with status, rule, environment, a link to the change in Gerrit, revision and age', async () => {
    const home = await get('/');
    expect(home.res.status).toBe(302);
    expect(home.res.headers.get('location')).toBe('/rollouts');
    const { res, text } = await get('/rollouts');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(listed(text)).toEqual([ids.web, ids.done, ids.held]);
    expect(text).toContain(`<a href="${rest.url}/c/payments/api/+/802">payments/api 802</a>`);
    expect(text).toContain('<span class="badge status-succeeded">succeeded</span>');
    expect(text).toContain('<td>payments-api-prod</td>');
    expect(text).toContain('<td>production</td>');
    expect(text).toContain(`<code title="${'802'.padEnd(40, 'f')}">802fffffff</code>`);
    expect(text).toMatch(/<time datetime="[^"]+" title="[^"]+">\d+ s ago<\/time>/);
    expect(text).toContain('Login is not configured');
  });

  it('renders a change subject with markup as text', async () => {
    const { text } = await get('/rollouts');
    expect(text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(text).not.toContain(XSS);
  });

  it('filters by status, project and change; blank fields mean no filter', async () => {
    expect(listed((await get('/rollouts?status=held')).text)).toEqual([ids.held]);
    expect(listed((await get('/rollouts?project=payments%2Fweb')).text)).toEqual([ids.web]);
    expect(listed((await get('/rollouts?change=802&status=succeeded')).text)).toEqual([ids.done]);
    expect(listed((await get('/rollouts?status=running')).text)).toEqual([]);
    const blank = await get('/rollouts?status=&project=&change=');
    expect(blank.res.status).toBe(200);
    expect(listed(blank.text)).toHaveLength(3);
    // the form shows the filter that is in force
    expect((await get('/rollouts?status=held')).text).toContain('<option value="held" selected>held</option>');
  });

  it('answers a bad filter with a 400 page that says what is wrong, and keeps the form', async () => {
    const status = await get('/rollouts?status=bogus');
    expect(status.res.status).toBe(400);
    expect(status.res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    // in words a person can act on, not the parser's ("Invalid option", "expected number, received NaN")
    expect(status.text).toContain('Bad filter: status: “bogus” is not a rollout status; choose one of held, expired, denied,');
    expect(listed(status.text)).toEqual([]);
    const change = await get(`/rollouts?change=${encodeURIComponent('"><b>x')}`);
    expect(change.res.status).toBe(400);
    expect(change.text).toMatch(/Bad filter: change: /);
    expect(change.text).toContain('value="&quot;&gt;&lt;b&gt;x"');
  });

  it('pages the list by rollout id with next and previous links that keep the filter', async () => {
    const first = await get('/rollouts?limit=2&environment=production');
    expect(listed(first.text)).toEqual([ids.web, ids.done]);
    expect(first.text).toContain(`<a rel="next" href="/rollouts?environment=production&amp;limit=2&amp;before=${ids.done}">Next page (older)</a>`);
    expect(first.text).not.toContain('rel="prev"');
    const second = await get(`/rollouts?limit=2&environment=production&before=${ids.done}`);
    expect(listed(second.text)).toEqual([ids.held]);
    expect(second.text).toContain(`<a rel="prev" href="/rollouts?environment=production&amp;limit=2&amp;after=${ids.held}">Previous page (newer)</a>`);
    expect(second.text).not.toContain('rel="next"');
    expect(listed((await get(`/rollouts?limit=2&after=${ids.held}`)).text)).toEqual([ids.web, ids.done]);
    // 50 a page by default: three rollouts need no pager
    expect((await get('/rollouts')).text).not.toContain('class="pager"');
  });

  it('filters by environment, rule and the change owner (username, email or name)', async () => {
    expect(listed((await get('/rollouts?environment=production&rule=payments-api-prod')).text)).toEqual([ids.web, ids.done, ids.held]);
    expect(listed((await get('/rollouts?environment=staging')).text)).toEqual([]);
    expect(listed((await get('/rollouts?rule=another-rule')).text)).toEqual([]);
    for (const owner of ['erin', 'erin@example.com', 'Erin Web', '1000005']) expect(listed((await get(`/rollouts?owner=${encodeURIComponent(owner)}`)).text), owner).toEqual([ids.web]);
    expect(listed((await get('/rollouts?owner=alice')).text)).toEqual([]);
  });

  it('says what is wrong with a filter in words, not in the terms of the parser', async () => {
    const change = await get('/rollouts?change=abc');
    expect(change.res.status).toBe(400);
    expect(change.text).toContain('Bad filter: change: “abc” is not a change number (a whole number such as 12345).');
    expect(change.text).not.toMatch(/expected number|received NaN|Invalid/);
    const both = await get('/rollouts?before=x&after=3&limit=1000');
    expect(both.res.status).toBe(400);
    expect(both.text).toContain('before: “x” is not a rollout number: the page link was changed; start again from the first page.');
    expect(both.text).toContain('limit: “1000” is not a page size from 1 to 200.');
  });

  it('shows absolute UTC times beside relative ones, the owner, and the steps of a held rollout as not run', async () => {
    const { text } = await get(`/rollouts/${ids.held}`);
    expect(text).toMatch(/<span class="when"><time datetime="[^"]+" title="[^"]+">\d+ s ago<\/time> <span class="utc">\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ<\/span><\/span>/);
    expect(text).toContain('data-step="build" data-status="not_run"');
    expect(text).toContain('<span class="badge status-not_run">not run</span>');
    expect(text).not.toContain('>pending</span>');
    const web = await get(`/rollouts/${ids.web}`);
    expect(web.text).toContain('<dt>owner</dt><dd><span class="owner">erin (Erin Web)</span></dd>');
    expect(web.text).toContain('<dt>submitter</dt><dd class="submitter">not known</dd>');
    // a failed rollout's steps keep their own words
    expect(web.text).toContain('data-step="build" data-status="pending"');
  });

  it('shows per environment what is deployed and what is held', async () => {
    const { res, text } = await get('/environments');
    expect(res.status).toBe(200);
    expect(text).toContain('<section class="environment" data-environment="production">');
    expect(text).toContain(`<dl class="facts deployed" data-rollout="${ids.done}">`);
    expect(text).toContain('<dd class="approved-by">alice (prod-deployer via sre)</dd>');
    expect(text).toContain('Nothing runs.');
    expect(text).toContain(`<li data-rollout="${ids.held}"><a href="/rollouts/${ids.held}">#${ids.held}</a>`);
    expect(text).not.toContain(XSS);
  });

  it('shows the intake: stream, leader, counts and the last back-fill', async () => {
    const { res, text } = await get('/intake');
    expect(res.status).toBe(200);
    expect(text).toContain('<h1>Intake</h1>');
    expect(text).toMatch(/<dd class="stream-state">(<span class="state-(yes|no)">(not )?connected<\/span>|<span class="state-no">not configured<\/span>)/);
    expect(text).toMatch(/<dd class="leader-state"><span class="state-(yes|no)">/);
    expect(text).toContain('<h2>Pending: <span class="count">0</span></h2>');
  });

  it('shows a rollout: decision, reasons, approvers with role and group, justification, history, and the steps with outputs', async () => {
    const { res, text } = await get(`/rollouts/${ids.done}`);
    expect(res.status).toBe(200);
    expect(text).toContain(`Rollout #${ids.done}: payments-api-prod to production`);
    expect(text).toContain('<h2>Decision: allow</h2>');
    expect(text).toContain('alice (prod-deployer via sre) approved with Code-Review +2 &lt;script&gt;');
    expect(text).toContain('<tr><td>alice</td><td>Code-Review +2</td><td>prod-deployer via sre</td></tr>');
    expect(text).toContain('INC-802 &lt;b&gt;bold&lt;/b&gt;');
    expect(text).toMatch(/status-allow">allow<\/span> on comment by alice, .* policy <code title="abcdef0123456789">abcdef012345<\/code>/);
    expect(text).toContain('justification: INC-802');
    // the DAG: build needs nothing, deploy needs build, so they sit in consecutive layers
    expect(text).toMatch(/<li class="layer">.*data-step="build".*<\/li><li class="layer">.*data-step="deploy"/s);
    expect(text).toContain('<dt>needs</dt><dd>build</dd>');
    expect(text).toContain('data-step="deploy" data-status="succeeded" data-attempts="2"');
    expect(text).toContain('<dt>exit code</dt><dd>0</dd><dt>duration</dt><dd>1.2 s</dd>');
    expect(text).toContain('<pre>&lt;/pre&gt;&lt;img src=x onerror=alert(1)&gt;built</pre>');
    // settled: the page does not watch for changes; no buttons without login
    expect(text).not.toContain('data-live');
    expect(text).not.toContain('<form class="action');
    expect(text).toContain('Actions need login, which is not configured.');
  });

  it('watches a rollout that is not settled, and shows the ?msg= of an action as text', async () => {
    const { text } = await get(`/rollouts/${ids.held}?msg=${encodeURIComponent(`approved ${XSS}`)}`);
    expect(text).toContain(`<main data-rollout="${ids.held}" data-status="held" data-live="on" data-output-after="0">`);
    expect(text).toContain('<p class="flash" role="status">approved &lt;script&gt;alert(1)&lt;/script&gt;</p>');
    expect(text).not.toContain(XSS);
  });

  it('answers an unknown or malformed rollout id with a 404 page', async () => {
    const missing = await get('/rollouts/999999');
    expect(missing.res.status).toBe(404);
    expect(missing.res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(missing.text).toContain('There is no rollout 999999.');
    const odd = await get(`/rollouts/${encodeURIComponent('<i>x')}`);
    expect(odd.res.status).toBe(404);
    expect(odd.text).toContain('There is no rollout &lt;i&gt;x.');
  });

  it('sends a strict Content-Security-Policy, no framing, and pages with no inline script or style', async () => {
    for (const pathAndQuery of ['/rollouts', `/rollouts/${ids.done}`, '/rollouts/999999', '/rollouts?status=bogus', '/environments', '/intake']) {
      const { res, text } = await get(pathAndQuery);
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("form-action 'self'");
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      // every script is a file, and nothing carries inline style or event handlers
      expect([...text.matchAll(/<script[^>]*>/g)].map((m) => m[0])).toEqual(['<script src="/assets/live.js" defer>']);
      expect(text).not.toMatch(/<[^>]*\s(style|on[a-z]+)=/i);
    }
    const css = await fetch(`${service.url}/assets/rollgate.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await css.text()).toContain('ol.dag');
    const js = await fetch(`${service.url}/assets/live.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toContain('/api/rollouts/');
  });

  it('leaves the JSON API as it was', async () => {
    const res = await fetch(`${service.url}/api/rollouts?status=bogus`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'bad_request' });
    const all = (await (await fetch(`${service.url}/api/rollouts?status=&change=`)).json()) as { rollouts: unknown[] };
    expect(all.rollouts).toHaveLength(3);
    expect((await sql<{ n: number }>`select count(*)::int as n from rollouts`.execute(service.database.db)).rows[0]!.n).toBe(3);
  });
});

describe.each(BACKENDS)('%s: the web page over HTTP with login on', (backend) => {
  let r: RollgateWithLogin;
  const cookies: Record<string, string> = {};
  let held: number;

  beforeAll(async () => {
    r = await startRollgateWithLogin(backend);
    for (const who of ['alice', 'carol']) cookies[who] = (await r.idp.login(r.url, who)).cookie;
    held = (await heldRollout(r, 861, XSS)).id;
  });

  afterAll(async () => {
    await r?.stop();
  });

  const get = async (pathAndQuery: string, who?: string) => {
    const res = await fetch(`${r.url}${pathAndQuery}`, { redirect: 'manual', headers: who ? { cookie: cookies[who]! } : {} });
    return { res, text: await res.text() };
  };

  it('asks for a login on every page, with a link that comes back to it', async () => {
    for (const pathAndQuery of ['/rollouts?status=held', `/rollouts/${held}`, '/environments', '/intake', '/audit']) {
      const { res, text } = await get(pathAndQuery);
      expect(res.status).toBe(401);
      expect(text).toContain(`<a class="login" href="/auth/login?return_to=${encodeURIComponent(pathAndQuery)}">Log in</a>`);
      expect(text).not.toContain('<tr data-rollout=');
    }
    // the assets are not secret
    expect((await get('/assets/live.js')).res.status).toBe(200);
  });

  it('shows the operator and offers the forms their roles allow, with the session CSRF token', async () => {
    const me = (await (await fetch(`${r.url}/auth/me`, { headers: { cookie: cookies.alice! } })).json()) as { csrfToken: string };
    const { res, text } = await get(`/rollouts/${held}`, 'alice');
    expect(res.status).toBe(200);
    expect(text).toContain('<span class="operator">alice</span> <span class="roles">(prod-deployer via sre)</span>');
    expect(text).toContain(`<form class="logout" method="post" action="/auth/logout"><input type="hidden" name="_csrf" value="${me.csrfToken}">`);
    expect([...text.matchAll(/<form class="action action-(\w+)" method="post" action="\/api\/rollouts\/(\d+)\/(\w+)">/g)].map((m) => [m[1], Number(m[2]), m[3]])).toEqual([
      ['approve', held, 'approve'],
      ['deny', held, 'deny'],
    ]);
    expect(text.split(`<input type="hidden" name="_csrf" value="${me.csrfToken}">`)).toHaveLength(4); // logout, approve, deny

    const carol = await get(`/rollouts/${held}`, 'carol');
    expect(carol.text).not.toContain('<form class="action');
    expect(carol.text).toContain('Your roles (none) allow no action on this rollout while it is held.');
  });

  it('shows the audit trail to a role holder, filtered and paged, and refuses someone without a role', async () => {
    const all = await get('/audit', 'alice');
    expect(all.res.status).toBe(200);
    expect(all.text).toContain('<h1>Audit trail</h1>');
    expect(all.text).toContain(`<a href="/rollouts/${held}">#${held}</a>`);
    expect(all.text).not.toContain(XSS);

    const decisions = await get(`/audit?kind=decision&rollout=${held}&limit=1`, 'alice');
    const kinds = [...decisions.text.matchAll(/<td><span class="badge">([\w-]+)<\/span><\/td>/g)].map((m) => m[1]);
    expect(kinds).toEqual(['decision']);
    expect(decisions.text).toContain('<option value="decision" selected>decision</option>');

    const bad = await get('/audit?kind=bogus&rollout=x', 'alice');
    expect(bad.res.status).toBe(400);
    expect(bad.text).toContain('Bad filter: kind: “bogus” is not a kind of audit entry; choose one of ');
    expect(bad.text).toContain(' rollout: “x” is not a rollout number (a whole number such as 42).');

    const carol = await get('/audit', 'carol');
    expect(carol.res.status).toBe(403);
    expect(carol.text).toContain('reading the audit trail needs a role from roles.yaml; carol holds none');
  });
});
