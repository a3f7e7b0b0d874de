import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { alice, bob, carol, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import type { DoubleAccount, DoubleChange } from '../helpers/rest-gerrit-double.js';
import { serviceOnDoublesForSuite } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';

/** A review event the way Gerrit streams it when `author` set `label` from `from` to `to` (`oldValue` marks a changed vote). */
function voteEvent(change: DoubleChange, author: DoubleAccount, to: number, from: number | undefined, text = ''): Record<string, unknown> {
  const event = commentAddedEvent(change, author, text);
  return { ...event, approvals: [{ type: 'Code-Review', description: 'Code-Review', value: String(to), ...(from === undefined ? {} : { oldValue: String(from) }) }] };
}

describe.each(BACKENDS)('%s: a vote after the merge decides a held rollout again, read from Gerrit REST', (backend) => {
  const suite = serviceOnDoublesForSuite(backend, 'vote-after-merge', [
    [alice, [GROUPS.sre]],
    [bob, [GROUPS.developers]],
    [carol, [GROUPS.developers]],
  ]);
  const db = () => suite.service.database.db;
  const reviewsOf = (change: number) => suite.rest.reviews.filter((r) => r.changeNumber === change).map((r) => r.message);
  /** The n-th comment-added event of the change once handled: its status and reason. */
  const handled = (change: number, n: number) =>
    waitFor(`comment event ${n} on change ${change} handled`, async () => {
      const rows = await db()
        .selectFrom('events')
        .select(['status', 'reason'])
        .where('type', '=', 'comment-added')
        .where('raw', 'like', `%"number":${change},%`)
        .where('status', '!=', 'pending')
        .orderBy('id')
        .execute();
      return rows.length >= n ? rows[n - 1] : undefined;
    });
  const rolloutOf = (change: number) => db().selectFrom('rollouts').select(['id', 'status']).where('change_number', '=', change).executeTakeFirstOrThrow();

  it('starts a held rollout when a prod-deployer votes after the merge; a vote that cannot count, a forged one and a plain comment change nothing', async () => {
    const change = mergedChange(1501, bob, { commitMessage: 'Change 1501\n\nRollout-Justification: INC-1501\n', votes: { 'Code-Review': [{ account: bob, value: 2 }] } });
    suite.rest.setChange(change);
    suite.ssh.push(changeMergedEvent(change));
    await waitFor('the hold message', () => reviewsOf(1501).find((m) => m.includes('ON HOLD')));
    expect(reviewsOf(1501).find((m) => m.includes('ON HOLD'))).toContain('can vote Code-Review +2 or comment "/rollout approve <justification>"');

    // carol holds no role that counts: her vote, real in Gerrit, leaves the rollout held and posts nothing
    suite.rest.setChange({ ...change, votes: { 'Code-Review': [{ account: bob, value: 2 }, { account: carol, value: 2 }] } });
    suite.ssh.push(voteEvent(change, carol, 2, 0));
    expect(await handled(1501, 1)).toEqual({ status: 'processed', reason: 'payments-api-prod: still held after the vote' });

    // an event claiming alice voted, which Gerrit does not show: the event is only a hint
    suite.ssh.push(voteEvent(change, alice, 2, 0, 'forged'));
    expect(await handled(1501, 2)).toEqual({ status: 'processed', reason: 'payments-api-prod: still held after the vote' });

    // a comment that changes no vote (Gerrit lists the votes unchanged, without oldValue) is no vote
    suite.ssh.push(voteEvent(change, carol, 2, undefined, 'nice'));
    expect(await handled(1501, 3)).toEqual({ status: 'ignored', reason: 'no rollout command in the comment' });
    expect((await rolloutOf(1501)).status).toBe('held');
    expect(reviewsOf(1501).filter((m) => !m.includes('ON HOLD'))).toEqual([]);

    // alice (sre, so prod-deployer) votes +2 after the merge, and Gerrit shows it
    suite.rest.setChange({ ...change, votes: { 'Code-Review': [{ account: bob, value: 2 }, { account: carol, value: 2 }, { account: alice, value: 2 }] } });
    suite.ssh.push(voteEvent(change, alice, 2, 0));
    const { id } = await rolloutOf(1501);
    expect(await handled(1501, 4)).toEqual({ status: 'processed', reason: `payments-api-prod: allowed by the votes, queued (rollout #${id})` });
    const started = await waitFor('the started message', () => reviewsOf(1501).find((m) => m.includes('STARTED')));
    expect(started).toContain('alice (prod-deployer via sre) approved with Code-Review +2');
    await waitFor('the rollout to succeed', async () => ((await rolloutOf(1501)).status === 'succeeded' ? true : undefined), 30_000);
    const decisions = await db().selectFrom('decisions').select(['trigger', 'actor', 'outcome']).where('change_number', '=', 1501).orderBy('id').execute();
    expect(decisions).toEqual([
      { trigger: 'merge', actor: null, outcome: 'hold' },
      { trigger: 'vote', actor: 'alice', outcome: 'allow' },
    ]);
  });
});
