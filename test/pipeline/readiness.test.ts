import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { alice, bob, carol, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import type { DoubleAccount, DoubleChange } from '../helpers/rest-gerrit-double.js';
import { serviceOnDoublesForSuite } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';

/** A review event as Gerrit streams it when `author` set Code-Review from `from` to `to`. */
function voteEvent(change: DoubleChange, author: DoubleAccount, to: number, from: number): Record<string, unknown> {
  return { ...commentAddedEvent(change, author, ''), approvals: [{ type: 'Code-Review', description: 'Code-Review', value: String(to), oldValue: String(from) }] };
}

function patchSetEvent(change: DoubleChange): Record<string, unknown> {
  return {
    type: 'patchset-created',
    change: { project: change.project, branch: change.branch, id: `I${change.revision}`, number: change.number, subject: change.subject, owner: { username: change.owner.username }, status: 'NEW' },
    patchSet: { number: change.patchSet, revision: change.revision, uploader: { username: change.uploader.username } },
    eventCreatedOn: 1763885100,
  };
}

describe.each(BACKENDS)('%s: readiness before merge (ROLLGATE_READINESS_LABEL)', (backend) => {
  const suite = serviceOnDoublesForSuite(
    backend,
    'readiness',
    [
      [alice, [GROUPS.sre]],
      [bob, [GROUPS.developers]],
      [carol, [GROUPS.developers]],
    ],
    { env: () => ({ ROLLGATE_READINESS_LABEL: 'Rollout-Ready' }) },
  );
  const votesOn = (change: number) => suite.rest.reviews.filter((r) => r.changeNumber === change && r.labels !== undefined).map((r) => ({ value: r.labels!['Rollout-Ready'], revision: r.revision, message: r.message }));
  /** Waits until every event of the change is handled. */
  const settled = (change: number, events: number) =>
    waitFor(`${events} events of change ${change} handled`, async () => {
      const rows = await suite.service.database.db.selectFrom('events').select('status').where('raw', 'like', `%"number":${change},%`).execute();
      return rows.length >= events && rows.every((r) => r.status !== 'pending') ? true : undefined;
    });

  it('votes 0 with what is missing, stays quiet while nothing changes, votes +1 once a prod-deployer approves, and starts over on a new patch set', async () => {
    const open = { ...mergedChange(1601, bob, { commitMessage: 'Change 1601\n\nRollout-Justification: INC-1601\n' }), status: 'NEW' as const };
    suite.rest.setChange(open);
    suite.ssh.push(patchSetEvent(open));
    const [first] = await waitFor('the first readiness vote', () => (votesOn(1601).length > 0 ? votesOn(1601) : undefined));
    expect(first).toMatchObject({ value: 0, revision: open.revision });
    expect(first!.message).toMatch(/^rollgate: Rollout-Ready 0: if merged now, this change would not roll out yet\.\n\nRule payments-api-prod to production would be ON HOLD:\n\* rule payments-api-prod needs 1 approver with Code-Review \+2 and role prod-deployer/);

    // bob approves his own change, carol holds no role: still not ready, and nothing is posted again
    suite.rest.setChange({ ...open, votes: { 'Code-Review': [{ account: bob, value: 2 }] } });
    suite.ssh.push(voteEvent(open, bob, 2, 0));
    suite.rest.setChange({ ...open, votes: { 'Code-Review': [{ account: bob, value: 2 }, { account: carol, value: 2 }] } });
    suite.ssh.push(voteEvent(open, carol, 2, 0));
    await settled(1601, 3);
    expect(votesOn(1601)).toHaveLength(1);

    // alice (sre: prod-deployer) approves: ready
    suite.rest.setChange({ ...open, votes: { 'Code-Review': [{ account: bob, value: 2 }, { account: carol, value: 2 }, { account: alice, value: 2 }] } });
    suite.ssh.push(voteEvent(open, alice, 2, 0));
    const ready = await waitFor('the +1 vote', () => votesOn(1601)[1]);
    expect(ready).toEqual({ value: 1, revision: open.revision, message: expect.stringMatching(/^rollgate: Rollout-Ready \+1: if merged now, this change would roll out: rule payments-api-prod to production\./) });

    // a new patch set: Gerrit resets the votes, and readiness is decided afresh on it
    const second = { ...open, revision: 'f'.repeat(40), patchSet: 2, votes: {} };
    suite.rest.setChange(second);
    suite.ssh.push(patchSetEvent(second));
    const again = await waitFor('the vote on patch set 2', () => votesOn(1601)[2]);
    expect(again).toMatchObject({ value: 0, revision: second.revision });
    expect(await suite.service.database.db.selectFrom('rollouts').select('id').where('change_number', '=', 1601).execute()).toEqual([]);
  });
});
