import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BACKENDS } from '../helpers/backends.js';
import { alice, changeMergedEvent, commentAddedEvent, mergedChange } from '../helpers/change-events.js';
import { startRollgateWithLogin, type RollgateWithLogin } from '../helpers/rollgate-with-login.js';
import { waitFor } from '../helpers/wait-for.js';
import { withoutAuditHead } from '../helpers/audit-head.js';

/**
 * The attack: the same person asks for the same thing by two doors and gets two answers. alice
 * (prod-deployer via Gerrit group sre) approves her own held change once by a `/rollout approve`
 * comment and once through rollgate's API. Whatever `forbid_self_approval` says must hold on both
 * doors: with `false` her approval counts either way; with `true` neither door takes it, and
 * neither stores it.
 */
const FIXTURE_RULES = readFileSync(path.resolve('test/fixtures/policies/rollouts.yaml'), 'utf8');

describe.each(BACKENDS)('%s: self-approval is judged the same by comment and by API', (backend) => {
  describe.each([
    { forbid: false, rollouts: FIXTURE_RULES.replace('forbid_self_approval: true', 'forbid_self_approval: false') },
    { forbid: true, rollouts: FIXTURE_RULES },
  ])('forbid_self_approval: $forbid', ({ forbid, rollouts }) => {
    let r: RollgateWithLogin;
    let token: string;

    beforeAll(async () => {
      expect(rollouts).toContain(`forbid_self_approval: ${forbid}`);
      r = await startRollgateWithLogin(backend, { rollouts });
      token = await r.idp.accessToken('alice');
    });
    afterAll(async () => {
      await r?.stop();
    });

    const reviewsOf = (change: number) => r.rest.reviews.filter((m) => m.changeNumber === change).map((m) => withoutAuditHead(m.message));
    const db = () => r.service.database.db;
    const rolloutOf = (number: number) => db().selectFrom('rollouts').select(['id', 'status']).where('change_number', '=', number).executeTakeFirstOrThrow();
    const approvalsOf = (id: number) => db().selectFrom('approvals').select(['username', 'source']).where('rollout_id', '=', id).execute();

    /** alice's own merge, nobody's vote, a justification footer: held for an approver. */
    const alicesHeldChange = async (number: number) => {
      const change = mergedChange(number, alice, { commitMessage: `Change ${number}\n\nRollout-Justification: INC-${number}\n` });
      r.rest.setChange(change);
      r.ssh.push(changeMergedEvent(change));
      await waitFor('the hold message', () => reviewsOf(number).find((m) => m.includes('ON HOLD')));
      const row = await rolloutOf(number);
      expect(row.status).toBe('held');
      return { change, id: row.id };
    };

    it('by comment', async () => {
      const number = forbid ? 811 : 801;
      const { change, id } = await alicesHeldChange(number);
      r.ssh.push(commentAddedEvent(change, alice, '/rollout approve my own fix, INC-1'));
      if (!forbid) {
        const started = await waitFor('the start message', () => reviewsOf(number).find((m) => m.includes('STARTED')));
        expect(started).toContain('alice (prod-deployer via sre) approved with /rollout approve');
        expect(await approvalsOf(id)).toEqual([{ username: 'alice', source: 'comment' }]);
        return;
      }
      const refusal = await waitFor('the refusal', () => reviewsOf(number).find((m) => m.includes('alice may not')));
      expect(refusal).toBe(`rollgate: alice may not /rollout approve rollout #${id} (payments-api-prod): alice owns the change (no self-approval); nothing was changed.`);
      expect(await approvalsOf(id)).toEqual([]);
      expect((await rolloutOf(number)).status).toBe('held');
      expect(reviewsOf(number).filter((m) => m.includes('ON HOLD'))).toHaveLength(1);
    });

    it('by API', async () => {
      const number = forbid ? 812 : 802;
      const { id } = await alicesHeldChange(number);
      const res = await fetch(`${r.url}/api/rollouts/${id}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ justification: 'my own fix, INC-1' }),
      });
      const body = (await res.json()) as { ok?: boolean; message?: string; error?: string };
      if (!forbid) {
        expect({ status: res.status, body }).toMatchObject({ status: 200, body: { ok: true, message: `payments-api-prod: approved by alice, queued (rollout #${id})` } });
        const started = await waitFor('the start message', () => reviewsOf(number).find((m) => m.includes('STARTED')));
        expect(started).toContain('alice (prod-deployer via sre) approved with the rollgate API');
        expect(await approvalsOf(id)).toEqual([{ username: 'alice', source: 'api' }]);
        return;
      }
      expect({ status: res.status, body }).toEqual({ status: 403, body: expect.objectContaining({ error: `alice may not approve rollout #${id} (payments-api-prod): alice owns the change (no self-approval); nothing was changed.` }) });
      expect(await approvalsOf(id)).toEqual([]);
      expect((await rolloutOf(number)).status).toBe('held');
    });
  });
});
