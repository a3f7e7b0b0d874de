import { afterEach, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { changeMergedEvent } from '../helpers/change-events.js';
import { waitFor } from '../helpers/wait-for.js';
import { startFaultRig, type FaultRig } from './fault-harness.js';

describe.each(BACKENDS)('%s: Gerrit REST failing for a while', (backend) => {
  let rig: FaultRig | undefined;
  let database: TestDatabase | undefined;

  afterEach(async () => {
    await rig?.stop();
    await database?.drop();
    rig = undefined;
    database = undefined;
  });

  it('500s and then 429s with Retry-After: the event is retried, the merge rolls out once and each report is posted once', async () => {
    database = await createTestDatabase(backend);
    rig = await startFaultRig({ databaseUrl: database.url });
    const { ssh, rest, approvedMerge, expectRolledOutOnce } = rig;
    const change = approvedMerge(241);
    // every REST call fails for a while: first a 500, then a 429 asking for 3 s
    rest.failNext('/a/', 500, 1);
    rest.failNext('/a/', 429, 1, { 'Retry-After': '3' });
    const pushedAt = Date.now();
    ssh.push(changeMergedEvent(change));
    await expectRolledOutOnce(change);
    expect(rest.requests.filter((r) => r.startsWith('GET /a/changes/payments%2Fapi~241')).length).toBeGreaterThanOrEqual(3);
    // retried after 1 s (backoff), then no sooner than the 3 s Gerrit asked for
    expect(Date.now() - pushedAt).toBeGreaterThanOrEqual(4000);
  }, 60_000);

  it('Gerrit REST down for longer than the not-merged retry budget: the merge is still rolled out once Gerrit is back', async () => {
    database = await createTestDatabase(backend);
    // the budget for a change REST shows as not merged is 3 tries; an outage is not that
    rig = await startFaultRig({ databaseUrl: database.url, overrides: { eventRetry: { baseMs: 10, maxMs: 40, notMergedAttempts: 3 } } });
    const { ssh, rest, approvedMerge, expectRolledOutOnce } = rig;
    const change = approvedMerge(243);
    const changePath = `/a/changes/${encodeURIComponent(change.project)}~${change.number}`;
    rest.failNext(changePath, 503, 25);
    ssh.push(changeMergedEvent(change));
    await expectRolledOutOnce(change);
    expect(rest.requests.filter((r) => r.startsWith(`GET ${changePath}`)).length).toBeGreaterThan(25);
    const [event] = await rig.service.database.db.selectFrom('events').select(['status', 'attempts']).where('type', '=', 'change-merged').where('raw', 'like', '%"number":243%').execute();
    expect(event).toMatchObject({ status: 'processed' });
    expect(event!.attempts).toBeGreaterThan(25);
  }, 60_000);

  it('a change REST keeps showing as not merged fails for good after the budget, with the reason on the event', async () => {
    database = await createTestDatabase(backend);
    rig = await startFaultRig({ databaseUrl: database.url, overrides: { eventRetry: { baseMs: 10, maxMs: 40, notMergedAttempts: 3 } } });
    const { ssh, rest, approvedMerge } = rig;
    const change = approvedMerge(244);
    rest.setChange({ ...change, status: 'NEW' });
    ssh.push(changeMergedEvent(change));
    const db = rig.service.database.db;
    await waitFor('the event to fail', async () => (await db.selectFrom('events').select('status').where('raw', 'like', '%"number":244%').where('type', '=', 'change-merged').executeTakeFirst())?.status === 'failed');
    const event = await db.selectFrom('events').select(['attempts', 'reason']).where('raw', 'like', '%"number":244%').where('type', '=', 'change-merged').executeTakeFirstOrThrow();
    expect(event).toEqual({ attempts: 3, reason: 'change 244 is NEW in REST, not MERGED yet' });
    expect(await db.selectFrom('rollouts').select('id').where('change_number', '=', 244).execute()).toEqual([]);
  }, 60_000);

  it('a review POST answered 429 with Retry-After, then 500: posted once, no sooner than Gerrit said', async () => {
    database = await createTestDatabase(backend);
    rig = await startFaultRig({ databaseUrl: database.url });
    const { ssh, rest, approvedMerge, expectRolledOutOnce } = rig;
    const change = approvedMerge(242);
    const reviewPath = `/a/changes/${encodeURIComponent(change.project)}~${change.number}/revisions/`;
    rest.failNext(reviewPath, 429, 1, { 'Retry-After': '1' });
    rest.failNext(reviewPath, 500, 2);
    const pushedAt = Date.now();
    ssh.push(changeMergedEvent(change));
    await expectRolledOutOnce(change);
    expect(rest.requests.filter((r) => r.startsWith(`POST ${reviewPath}`)).length).toBe(2 + 3);
    expect(Date.now() - pushedAt).toBeGreaterThanOrEqual(1000);
  }, 60_000);
});
