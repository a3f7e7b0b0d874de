import { afterEach, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { changeMergedEvent } from '../helpers/change-events.js';
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
