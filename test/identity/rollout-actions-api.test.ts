import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, mergedChange } from '../helpers/change-events.js';
import { startRollgateWithLogin, type RollgateWithLogin } from '../helpers/rollgate-with-login.js';
import { waitFor } from '../helpers/wait-for.js';
import { withoutAuditHead } from '../helpers/audit-head.js';

/** A refusal names the groups that give the role it needs (roles.yaml of startRollgateWithLogin). */
const WHO_GIVES_PROD_DEPLOYER = " Role prod-deployer is given by Gerrit group `sre` or IdP group `ops-oncall` (on rollgate's web page or API).";

describe.each(BACKENDS)('%s: approving and acting on rollouts through the HTTP API', (backend) => {
  let r: RollgateWithLogin;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    r = await startRollgateWithLogin(backend);
    for (const who of ['alice', 'bob', 'carol', 'dave']) tokens[who] = await r.idp.accessToken(who);
  });

  afterAll(async () => {
    await r?.stop();
  });

  const reviewsOf = (change: number) => r.rest.reviews.filter((m) => m.changeNumber === change).map((m) => withoutAuditHead(m.message));
  const post = (path: string, init: { token?: string; cookie?: string; json?: unknown; form?: Record<string, string>; headers?: Record<string, string> }) =>
    fetch(`${r.url}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
        ...(init.cookie ? { cookie: init.cookie } : {}),
        ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...init.headers,
      },
      body: init.json !== undefined ? JSON.stringify(init.json) : init.form ? new URLSearchParams(init.form).toString() : null,
    });
  const json = async (res: Response) => (await res.json()) as { ok?: boolean; message?: string; error?: string; rollout?: { id: number; status: string } };

  /** A merge of bob's that nobody approved: held, with a justification footer. */
  const heldRollout = async (number: number): Promise<number> => {
    const change = mergedChange(number, bob, { commitMessage: `Change ${number}\n\nRollout-Justification: routine\n` });
    r.rest.setChange(change);
    r.ssh.push(changeMergedEvent(change));
    await waitFor('the hold message', () => reviewsOf(number).find((m) => m.includes('ON HOLD')));
    const row = await r.service.database.db.selectFrom('rollouts').select(['id', 'status']).where('change_number', '=', number).executeTakeFirstOrThrow();
    expect(row.status).toBe('held');
    return row.id;
  };

  it('lets alice approve a held rollout with a bearer token: it runs, and the change says who approved and why', async () => {
    const id = await heldRollout(701);
    const res = await post(`/api/rollouts/${id}/approve`, { token: tokens.alice!, json: { justification: 'hotfix for INC-7' } });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ ok: true, message: `payments-api-prod: approved by alice, queued (rollout #${id})`, rollout: { id } });

    await waitFor('the finish message', () => reviewsOf(701).find((m) => m.includes('SUCCEEDED')));
    const messages = reviewsOf(701);
    expect(messages).toContain('rollgate: approved via rollgate by alice (prod-deployer via sre): hotfix for INC-7');
    const started = messages.find((m) => m.includes('STARTED'))!;
    expect(started).toContain('alice (prod-deployer via sre) approved with the rollgate API');
    expect(messages.indexOf('rollgate: approved via rollgate by alice (prod-deployer via sre): hotfix for INC-7')).toBeLessThan(messages.indexOf(started));

    const approvals = await r.service.database.db.selectFrom('approvals').select(['username', 'source', 'justification']).where('rollout_id', '=', id).execute();
    expect(approvals).toEqual([{ username: 'alice', source: 'api', justification: 'hotfix for INC-7' }]);
    const decision = await r.service.database.db.selectFrom('decisions').select(['trigger', 'actor', 'outcome']).where('rollout_id', '=', id).orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(decision).toEqual({ trigger: 'api', actor: 'alice', outcome: 'allow' });
    const audit = await r.service.database.db.selectFrom('audit_log').select(['kind', 'actor', 'summary']).where('rollout_id', '=', id).where('kind', 'in', ['approval', 'api-action']).orderBy('id').execute();
    expect(audit).toEqual([
      { kind: 'approval', actor: 'alice', summary: 'approved by alice via rollgate: hotfix for INC-7' },
      { kind: 'api-action', actor: 'alice', summary: `approve via rollgate by alice: done: payments-api-prod: approved by alice, queued (rollout #${id})` },
    ]);

    // nothing left to approve
    const again = await post(`/api/rollouts/${id}/approve`, { token: tokens.alice!, json: { justification: 'twice' } });
    expect(again.status).toBe(409);
    expect((await json(again)).error).toMatch(/^rollout #\d+ \(payments-api-prod\) is (running|succeeded); it is not waiting for an approval\.$/);
  });

  it('refuses bob on his own change, and carol who lacks the role, changing nothing', async () => {
    const id = await heldRollout(702);
    const own = await post(`/api/rollouts/${id}/approve`, { token: tokens.bob!, json: { justification: 'trust me' } });
    expect(own.status).toBe(403);
    expect((await json(own)).error).toBe(`bob may not approve rollout #${id} (payments-api-prod): bob owns the change (no self-approval); nothing was changed.`);

    const noRole = await post(`/api/rollouts/${id}/approve`, { token: tokens.carol!, json: { justification: 'looks fine' } });
    expect(noRole.status).toBe(403);
    expect((await json(noRole)).error).toBe(`carol may not approve rollout #${id} (payments-api-prod): that needs role prod-deployer; nothing was changed.${WHO_GIVES_PROD_DEPLOYER}`);
    const denyNoRole = await post(`/api/rollouts/${id}/deny`, { token: tokens.carol!, json: { justification: 'no' } });
    expect(denyNoRole.status).toBe(403);

    expect((await r.service.database.db.selectFrom('rollouts').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('held');
    expect(await r.service.database.db.selectFrom('approvals').select('id').where('rollout_id', '=', id).execute()).toEqual([]);
    expect(reviewsOf(702).filter((m) => !m.includes('ON HOLD'))).toEqual([]);
    const refusals = await r.service.database.db.selectFrom('audit_log').select(['kind', 'actor']).where('rollout_id', '=', id).where('kind', '=', 'api-action').orderBy('id').execute();
    expect(refusals).toEqual([
      { kind: 'api-action', actor: 'bob' },
      { kind: 'api-action', actor: 'carol' },
      { kind: 'api-action', actor: 'carol' },
    ]);
  });

  it('refuses rollback, cancel and retry to carol, who lacks the role, and changes nothing', async () => {
    const id = await heldRollout(706);
    expect((await post(`/api/rollouts/${id}/approve`, { token: tokens.alice!, json: { justification: 'routine' } })).status).toBe(200);
    await waitFor('the finish message', () => reviewsOf(706).find((m) => m.includes('SUCCEEDED')), 30_000);
    const messagesBefore = reviewsOf(706).length;

    for (const verb of ['rollback', 'cancel', 'retry'] as const) {
      const res = await post(`/api/rollouts/${id}/${verb}`, { token: tokens.carol!, json: { justification: 'I want to' } });
      expect(res.status).toBe(403);
      expect((await json(res)).error).toBe(`carol may not ${verb} rollout #${id} (payments-api-prod): that needs role prod-deployer; nothing was changed.${WHO_GIVES_PROD_DEPLOYER}`);
    }
    expect((await r.service.database.db.selectFrom('rollouts').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('succeeded');
    expect(reviewsOf(706)).toHaveLength(messagesBefore);
    const refusals = await r.service.database.db.selectFrom('audit_log').select(['kind', 'actor']).where('rollout_id', '=', id).where('kind', '=', 'api-action').where('actor', '=', 'carol').execute();
    expect(refusals).toHaveLength(3);
  });

  it('gives the role through idp_groups: dave approves with no Gerrit group', async () => {
    const id = await heldRollout(703);
    const res = await post(`/api/rollouts/${id}/approve`, { token: tokens.dave!, json: { justification: 'on call, INC-8' } });
    expect(res.status).toBe(200);
    const started = await waitFor('the start message', () => reviewsOf(703).find((m) => m.includes('STARTED')));
    expect(started).toContain('dave (prod-deployer via idp:ops-oncall) approved with the rollgate API');
    expect(reviewsOf(703)).toContain('rollgate: approved via rollgate by dave (prod-deployer via idp:ops-oncall): on call, INC-8');
  });

  it('needs the CSRF token with a session cookie, and a justification; a form from the page comes back to the page', async () => {
    const id = await heldRollout(704);
    const { cookie } = await r.idp.login(r.url, 'alice');
    const me = (await (await fetch(`${r.url}/auth/me`, { headers: { cookie } })).json()) as { csrfToken: string };

    const noToken = await post(`/api/rollouts/${id}/approve`, { cookie, json: { justification: 'x' } });
    expect(noToken.status).toBe(403);
    expect((await json(noToken)).error).toContain('CSRF token');
    const wrongToken = await post(`/api/rollouts/${id}/approve`, { cookie, json: { justification: 'x' }, headers: { 'x-csrf-token': 'guess' } });
    expect(wrongToken.status).toBe(403);

    const noReason = await post(`/api/rollouts/${id}/approve`, { cookie, json: {}, headers: { 'x-csrf-token': me.csrfToken } });
    expect(noReason.status).toBe(400);
    expect((await json(noReason)).error).toBe('justification: required: say why (it is posted on the change and kept in the audit trail)');

    const fromPage = await post(`/api/rollouts/${id}/approve`, { cookie, form: { justification: 'checked the canary', _csrf: me.csrfToken }, headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(fromPage.status).toBe(303);
    expect(fromPage.headers.get('location')).toBe(`/rollouts/${id}?msg=${encodeURIComponent(`payments-api-prod: approved by alice, queued (rollout #${id})`)}`);
    await waitFor('the start message', () => reviewsOf(704).find((m) => m.includes('STARTED')));
    expect(reviewsOf(704)).toContain('rollgate: approved via rollgate by alice (prod-deployer via sre): checked the canary');

    const refusedFromPage = await post(`/api/rollouts/${id}/deny`, { cookie, form: { justification: 'too late', _csrf: me.csrfToken }, headers: { accept: 'text/html' } });
    expect(refusedFromPage.status).toBe(303);
    expect(decodeURIComponent(refusedFromPage.headers.get('location')!)).toMatch(new RegExp(`^/rollouts/${id}\\?msg=alice's deny has nothing to deny: rollout #${id} \\(payments-api-prod\\) is `));
  });

  it('denies a held rollout and says so on the change', async () => {
    const id = await heldRollout(705);
    const res = await post(`/api/rollouts/${id}/deny`, { token: tokens.alice!, json: { justification: 'not during the migration' } });
    expect(res.status).toBe(200);
    expect((await json(res)).rollout?.status).toBe('denied');
    await waitFor('the deny message', () => reviewsOf(705).find((m) => m.includes('DENIED')));
    expect(reviewsOf(705)).toContain('rollgate: denied via rollgate by alice (prod-deployer via sre): not during the migration');
  });

  it('answers 401 without a login, 404 for an unknown rollout or action', async () => {
    expect((await post('/api/rollouts/1/approve', { json: { justification: 'x' } })).status).toBe(401);
    const garbage = await post('/api/rollouts/1/approve', { token: 'garbage', json: { justification: 'x' } });
    expect(garbage.status).toBe(401);
    expect((await post('/api/rollouts/999999/approve', { token: tokens.alice!, json: { justification: 'x' } })).status).toBe(404);
    expect((await post('/api/rollouts/1/frobnicate', { token: tokens.alice!, json: { justification: 'x' } })).status).toBe(404);
    const fromPage = await post('/api/rollouts/5/approve', { form: { justification: 'x' }, headers: { accept: 'text/html' } });
    expect(fromPage.status).toBe(303);
    expect(fromPage.headers.get('location')).toBe(`/auth/login?return_to=${encodeURIComponent('/rollouts/5')}`);
  });

  it('keeps tokens and cookies out of the database', async () => {
    const { cookie } = await r.idp.login(r.url, 'carol');
    const dump = JSON.stringify(
      await Promise.all(['operator_sessions', 'approvals', 'decisions', 'outbox', 'rollouts', 'events', 'audit_log'].map((t) => r.service.database.db.selectFrom(t as 'outbox').selectAll().execute())),
    );
    for (const token of Object.values(tokens)) expect(dump).not.toContain(token);
    expect(dump).not.toContain(decodeURIComponent(/rollgate_session=([^;]+)/.exec(cookie)![1]!));
  });
});

describe.each(BACKENDS)('%s: a quorum of two, one approver holding the role only through an IdP group', (backend) => {
  let r: RollgateWithLogin;
  const QUORUM = `rollouts:
  - name: payments-api-prod
    match: { project: payments/api, branch: main }
    workflow: deploy-service
    environment: production
    approval: { roles: [prod-deployer], min_approvers: 2 }
    justification: required
`;

  beforeAll(async () => {
    r = await startRollgateWithLogin(backend, { rollouts: QUORUM });
  });

  afterAll(async () => {
    await r?.stop();
  });

  it("still counts dave's approval when alice's later one decides the rollout again", async () => {
    const reviewsOf = (change: number) => r.rest.reviews.filter((m) => m.changeNumber === change).map((m) => withoutAuditHead(m.message));
    const change = mergedChange(711, bob, { commitMessage: 'Change 711\n\nRollout-Justification: routine\n' });
    r.rest.setChange(change);
    r.ssh.push(changeMergedEvent(change));
    await waitFor('the hold message', () => reviewsOf(711).find((m) => m.includes('ON HOLD')));
    const { id } = await r.service.database.db.selectFrom('rollouts').select('id').where('change_number', '=', 711).executeTakeFirstOrThrow();
    const approve = async (who: string, justification: string) =>
      fetch(`${r.url}/api/rollouts/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${await r.idp.accessToken(who)}`, 'content-type': 'application/json' }, body: JSON.stringify({ justification }) });

    expect((await approve('dave', 'first of two')).status).toBe(200);
    expect((await r.service.database.db.selectFrom('rollouts').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('held');
    expect((await approve('alice', 'second of two')).status).toBe(200);
    const started = await waitFor('the start message', () => reviewsOf(711).find((m) => m.includes('STARTED')));
    expect(started).toContain('dave (prod-deployer via idp:ops-oncall) approved with the rollgate API');
    expect(started).toContain('alice (prod-deployer via sre) approved with the rollgate API');
  });
});


describe.each(BACKENDS)('%s: an approval gate that waits while a parallel step still runs', (backend) => {
  let r: RollgateWithLogin;
  // `soak` and the gate start together; the rollout stays `running` while the gate waits
  const PARALLEL_GATE = `name: deploy-service
steps:
  - id: soak
    run: ["./ops/step.mjs", "soak", "--sleep", "3000"]
  - id: promote
    approval: { roles: [prod-deployer], timeout: 1h }
  - id: full
    needs: [soak, promote]
    run: ["./ops/step.mjs", "full"]
`;

  beforeAll(async () => {
    r = await startRollgateWithLogin(backend, { workflow: PARALLEL_GATE });
  });

  afterAll(async () => {
    await r?.stop();
  });

  it('passes the gate through the API while the rollout is running, as the web page offers', async () => {
    const reviewsOf = (change: number) => r.rest.reviews.filter((m) => m.changeNumber === change).map((m) => withoutAuditHead(m.message));
    const change = mergedChange(721, bob, { commitMessage: 'Change 721\n\nRollout-Justification: routine\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    r.rest.setChange(change);
    r.ssh.push(changeMergedEvent(change));
    const db = r.service.database.db;
    const { id } = await waitFor('the rollout', () => db.selectFrom('rollouts').select('id').where('change_number', '=', 721).executeTakeFirst());
    await waitFor('the gate to wait beside the running soak', async () => {
      const steps = await db.selectFrom('rollout_steps').select(['step_id', 'status']).where('rollout_id', '=', id).execute();
      return steps.some((s) => s.step_id === 'promote' && s.status === 'waiting') && steps.some((s) => s.step_id === 'soak' && s.status === 'running');
    });
    expect((await db.selectFrom('rollouts').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('running');

    const res = await fetch(`${r.url}/api/rollouts/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${await r.idp.accessToken('alice')}`, 'content-type': 'application/json' }, body: JSON.stringify({ justification: 'canary looks fine' }) });
    const body = (await res.json()) as { ok?: boolean; error?: string };
    expect([res.status, body.error]).toEqual([200, undefined]);
    await waitFor('the finish message', () => reviewsOf(721).find((m) => m.includes('SUCCEEDED')), 30_000);
    const promote = await db.selectFrom('rollout_steps').select('status').where('rollout_id', '=', id).where('step_id', '=', 'promote').executeTakeFirstOrThrow();
    expect(promote.status).toBe('succeeded');
    expect(reviewsOf(721)).toContain('rollgate: approved via rollgate by alice (prod-deployer via sre): canary looks fine');
  });
});
