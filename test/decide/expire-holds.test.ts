import { afterEach, describe, expect, it } from 'vitest';
import { AuditStore } from '../../src/audit/audit-store.js';
import type { DatabaseHandle } from '../../src/db/database.js';
import { DecisionLog } from '../../src/rollouts/decision-log.js';
import { expireHolds } from '../../src/decide/expire-holds.js';
import { RolloutReads } from '../../src/rollouts/rollout-reads.js';
import { RolloutStore } from '../../src/rollouts/rollout-store.js';
import { silentLogger } from '../../src/log.js';
import { ChangeMessages } from '../../src/messages/change-messages.js';
import { OutboxStore } from '../../src/messages/outbox-store.js';
import { BACKENDS, openTestDatabase } from '../helpers/backends.js';

describe.each(BACKENDS)('%s: expireHolds', (backend) => {
  let db: { handle: DatabaseHandle; cleanup: () => Promise<void> } | undefined;
  afterEach(async () => db?.cleanup());

  it('expires rollouts held longer than the limit, reports each and records it in the audit trail', async () => {
    db = await openTestDatabase(backend);
    const rollouts = new RolloutStore(db.handle.db);
    const reads = new RolloutReads(db.handle.db);
    const base = { rule: 'api-prod', workflow: 'deploy', environment: 'production', project: 'payments/api', branch: 'main', patchset: 1, newRev: undefined, subject: 's', reasons: [], approvers: [], justification: undefined, stepIds: ['build'] };
    const held = await rollouts.create({ ...base, rolloutKey: 'a', changeNumber: 1, revision: 'a'.repeat(40), decision: 'hold' });
    const allowed = await rollouts.create({ ...base, rolloutKey: 'b', changeNumber: 2, revision: 'b'.repeat(40), decision: 'allow' });
    let woken = 0;
    const outbox = new OutboxStore(db.handle.db);
    const deps = { db: db.handle.db, messages: new ChangeMessages(outbox, undefined), decisions: new DecisionLog(db.handle.db, new AuditStore(db.handle.db)), logger: silentLogger(), policyVersion: () => 'v1', onReport: () => woken++ };

    expect(await expireHolds(deps, 60 * 60_000)).toBe(0); // nothing is an hour old yet
    expect(await expireHolds(deps, 0)).toBe(1);
    expect((await reads.get(held!.id))!.status).toBe('expired');
    expect((await reads.get(allowed!.id))!.status).toBe('queued');
    const [message] = await outbox.forRollout(held!.id);
    expect(message!.message).toContain('rollgate: rollout "api-prod" to production EXPIRED');
    expect(message!.message).toContain('no approval arrived within 0m; the rollout will not run');
    const audit = await db.handle.db.selectFrom('decisions').selectAll().execute();
    expect(audit.map((a) => [a.rollout_id, a.trigger, a.outcome, a.policy_version])).toEqual([[held!.id, 'expiry', 'deny', 'v1']]);
    const chained = await db.handle.db.selectFrom('audit_log').selectAll().execute();
    expect(chained).toEqual([
      expect.objectContaining({ kind: 'decision', actor: 'rollgate', rollout_id: held!.id, summary: 'deny payments/api~1 under rule api-prod (expiry): no approval arrived within 0m; the rollout will not run' }),
    ]);
    expect(chained[0]!.data).toMatchObject({ trigger: 'expiry', outcome: 'deny', policyVersion: 'v1', inputs: { maxHoldMs: 0, heldSince: expect.any(String) } });
    expect(woken).toBe(1);
    expect(await expireHolds(deps, 0)).toBe(0); // already expired: nothing twice
  });
});

describe.each(BACKENDS)('%s: expireHolds after a refused start', (backend) => {
  let db: { handle: DatabaseHandle; cleanup: () => Promise<void> } | undefined;
  afterEach(async () => db?.cleanup());

  it('counts a rollout held again at its start from that start, not from its merge', async () => {
    db = await openTestDatabase(backend);
    const rollouts = new RolloutStore(db.handle.db);
    const reads = new RolloutReads(db.handle.db);
    const base = { rule: 'api-prod', workflow: 'deploy', environment: 'production', project: 'payments/api', branch: 'main', patchset: 1, newRev: undefined, subject: 's', reasons: [], approvers: [], justification: undefined, stepIds: ['build'] };
    const reheld = await rollouts.create({ ...base, rolloutKey: 'a', changeNumber: 1, revision: 'a'.repeat(40), decision: 'hold' });
    const merged = await rollouts.create({ ...base, rolloutKey: 'b', changeNumber: 2, revision: 'b'.repeat(40), decision: 'hold' });
    // both merged two hours ago; the first was allowed, queued, and held again at its start just now
    await db.handle.db.updateTable('rollouts').set({ created_at: new Date(Date.now() - 2 * 3_600_000) }).execute();
    await db.handle.db
      .insertInto('decisions')
      .values({ rollout_id: reheld!.id, rule: 'api-prod', project: 'payments/api', change_number: 1, revision: 'a'.repeat(40), trigger: 'start', actor: null, outcome: 'hold', reasons: '[]', inputs: '{}', policy_version: 'v1' })
      .execute();
    const deps = { db: db.handle.db, messages: new ChangeMessages(new OutboxStore(db.handle.db), undefined), decisions: new DecisionLog(db.handle.db), logger: silentLogger(), policyVersion: () => 'v1', onReport: () => undefined };

    expect(await expireHolds(deps, 60 * 60_000)).toBe(1);
    expect((await reads.get(merged!.id))!.status).toBe('expired');
    expect((await reads.get(reheld!.id))!.status).toBe('held');
  });
});
