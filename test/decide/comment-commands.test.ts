import { describe, expect, it } from 'vitest';
import { withoutAuditHead } from '../helpers/audit-head.js';
import { BACKENDS } from '../helpers/backends.js';
import { alice, bob, carol, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { serviceOnDoublesForSuite } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * `/rollout` comments on held rollouts through `serve` (fixture policy: payments-api-prod needs
 * one prod-deployer, from Gerrit group sre, and a justification): who may approve or deny, what
 * is answered, and what is stored in `approvals` and `decisions`.
 */
describe.each(BACKENDS)('%s: /rollout comments on held rollouts', (backend) => {
  const suite = serviceOnDoublesForSuite(backend, 'comment-commands', [
    [alice, [GROUPS.sre]],
    [bob, [GROUPS.developers]],
    [carol, []],
  ]);

  const reviewsOf = (change: number) => suite.rest.reviews.filter((r) => r.changeNumber === change).map((r) => withoutAuditHead(r.message));
  const db = () => suite.service.database.db;
  const decisionsOf = (change: number) => db().selectFrom('decisions').select(['rollout_id', 'rule', 'trigger', 'actor', 'outcome', 'policy_version']).where('change_number', '=', change).orderBy('id').execute();

  /** bob's merge with alice's +2 but no justification footer: held for the justification. */
  const heldForJustification = async (number: number) => {
    const change = mergedChange(number, bob, { votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    suite.rest.setChange(change);
    suite.ssh.push(changeMergedEvent(change));
    const hold = await waitFor('the hold message', () => reviewsOf(number).find((m) => m.includes('ON HOLD')));
    expect(hold).toContain('requires a justification');
    const row = await db().selectFrom('rollouts').select(['id', 'status']).where('change_number', '=', number).executeTakeFirstOrThrow();
    return { change, id: row.id };
  };

  it('refuses /rollout approve from people without a role that could help, storing nothing; their text never justifies the rollout', async () => {
    const { change, id } = await heldForJustification(601);
    suite.ssh.push(commentAddedEvent(change, carol, '/rollout approve trust me'));
    const refusal = await waitFor('the refusal', () => reviewsOf(601).find((m) => m.includes('carol may not')));
    expect(refusal).toBe(`rollgate: carol may not /rollout approve rollout #${id} (payments-api-prod): that needs role prod-deployer; nothing was changed. Role prod-deployer is given by Gerrit group \`sre\`.`);
    // bob owns the change and holds only staging-deployer
    suite.ssh.push(commentAddedEvent(change, bob, '/rollout approve trust me too'));
    await waitFor('the second refusal', () => reviewsOf(601).find((m) => m.includes('bob may not')));

    expect(await db().selectFrom('approvals').select('id').where('rollout_id', '=', id).execute()).toEqual([]);
    expect((await decisionsOf(601)).map((d) => [d.trigger, d.outcome])).toEqual([['merge', 'hold']]);
    expect((await db().selectFrom('rollouts').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('held');
    expect(reviewsOf(601).filter((m) => m.includes('ON HOLD') || m.includes('STARTED'))).toHaveLength(1);

    // a prod-deployer's own words do justify it
    suite.ssh.push(commentAddedEvent(change, alice, '/rollout approve INC-5 checkout fix'));
    const started = await waitFor('the start message', () => reviewsOf(601).find((m) => m.includes('STARTED')));
    expect(started).toContain('Justification: INC-5 checkout fix');
    expect(started).not.toContain('trust me');
  });

  it('records a /rollout deny in decisions like any decision: trigger, actor, outcome, reasons, inputs and policy version', async () => {
    const { change, id } = await heldForJustification(602);
    suite.ssh.push(commentAddedEvent(change, alice, '/rollout deny not during INC-12'));
    const denied = await waitFor('the deny message', () => reviewsOf(602).find((m) => m.includes('DENIED')));
    expect(denied).toContain('* denied by alice: not during INC-12');
    const rows = await decisionsOf(602);
    expect(rows.map(({ policy_version: _, ...r }) => r)).toEqual([
      { rollout_id: id, rule: 'payments-api-prod', trigger: 'merge', actor: null, outcome: 'hold' },
      { rollout_id: id, rule: 'payments-api-prod', trigger: 'comment', actor: 'alice', outcome: 'deny' },
    ]);
    expect(rows[1]!.policy_version).toBe(suite.service.policy.version);
    const full = await db().selectFrom('decisions').select(['reasons', 'inputs']).where('change_number', '=', 602).where('outcome', '=', 'deny').executeTakeFirstOrThrow();
    expect(full.reasons).toEqual([{ code: 'denied-by-command', message: 'denied by alice: not during INC-12' }]);
    expect(full.inputs).toMatchObject({ roles: { [String(alice._account_id)]: [{ role: 'prod-deployer', via: 'sre' }] }, votes: [{ label: 'Code-Review', value: 2 }] });
    // one deny message, not two (the decision's and the command's)
    expect(reviewsOf(602).filter((m) => m.includes('DENIED'))).toHaveLength(1);
  });

  it('records an ignored merge in decisions with its reason, such as a Rollout footer naming no rule', async () => {
    const other = mergedChange(603, bob, { project: 'payments/web', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    const typo = mergedChange(604, bob, { commitMessage: 'Fix\n\nRollout: payments-api-prd\nRollout-Justification: INC-1\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    for (const c of [other, typo]) {
      suite.rest.setChange(c);
      suite.ssh.push(changeMergedEvent(c));
    }
    const rows = await waitFor('the ignore decisions', async () => {
      const found = await db().selectFrom('decisions').select(['change_number', 'rollout_id', 'rule', 'trigger', 'outcome', 'reasons', 'policy_version']).where('change_number', 'in', [603, 604]).orderBy('change_number').execute();
      return found.length === 2 ? found : undefined;
    });
    expect(rows).toEqual([
      { change_number: 603, rollout_id: null, rule: null, trigger: 'merge', outcome: 'ignore', reasons: [{ code: 'no-rule-matches', message: 'no rollout rule matches payments/web main' }], policy_version: suite.service.policy.version },
      {
        change_number: 604,
        rollout_id: null,
        rule: null,
        trigger: 'merge',
        outcome: 'ignore',
        reasons: [{ code: 'no-rule-matches', message: 'the "Rollout: payments-api-prd" footer names rule payments-api-prd, which does not exist (rules: payments-api-prod); nothing rolls out' }],
        policy_version: suite.service.policy.version,
      },
    ]);
    expect(await db().selectFrom('rollouts').select('id').where('change_number', 'in', [603, 604]).execute()).toEqual([]);
    // the event is marked ignored just after its handler wrote the decision
    const typoEvent = await waitFor('the typo merge marked ignored', () =>
      db().selectFrom('events').select(['status', 'reason']).where('type', '=', 'change-merged').where('raw', 'like', '%"number":604%').where('status', '=', 'ignored').executeTakeFirst(),
    );
    expect(typoEvent.reason).toBe('the "Rollout: payments-api-prd" footer names rule payments-api-prd, which does not exist (rules: payments-api-prod); nothing rolls out');
  });
});
