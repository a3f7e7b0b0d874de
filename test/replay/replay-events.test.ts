import { describe, expect, it } from 'vitest';
import { EventReplay, type ReplayStep } from '../../src/replay/replay-events.js';
import { parseEventLine } from '../../src/gerrit/gerrit-event.js';
import { alice, bob, carol, changeMergedEvent, commentAddedEvent, mergedChange } from '../helpers/change-events.js';
import type { DoubleAccount, DoubleChange } from '../helpers/rest-gerrit-double.js';

const vote = (change: DoubleChange, who: DoubleAccount, value: number, patchSet = change.patchSet) => {
  const e = commentAddedEvent(change, who, 'review') as Record<string, any>;
  return { ...e, patchSet: { ...e.patchSet, number: patchSet }, approvals: [{ type: 'Code-Review', description: 'Code-Review', value: String(value), oldValue: '0' }] };
};

function feed(replay: EventReplay, ...events: Array<Record<string, unknown>>): ReplayStep[] {
  return events.flatMap((e) => {
    const parsed = parseEventLine(JSON.stringify(e));
    if (parsed.kind !== 'event') throw new Error(`not an event: ${JSON.stringify(parsed)}`);
    return replay.apply(parsed.event, parsed.value, new Date(0));
  });
}

describe('EventReplay', () => {
  it('rebuilds a merged change: owner, uploader, commit message, votes on the merged patch set, decided at eventCreatedOn', () => {
    const change = mergedChange(301, bob, { patchSet: 2, commitMessage: 'Fix\n\nRollout-Justification: INC-1\n' });
    const replay = new EventReplay();
    const steps = feed(replay, vote(change, alice, 2, 1), vote(change, carol, 1, 2), vote(change, alice, 2, 2), { ...changeMergedEvent(change), eventCreatedOn: 1763884900 });
    expect(steps).toHaveLength(1);
    const merged = steps[0]!;
    if (merged.kind !== 'merged') throw new Error(merged.kind);
    expect(merged.at.toISOString()).toBe(new Date(1763884900 * 1000).toISOString());
    expect(merged.change).toMatchObject({ project: 'payments/api', branch: 'main', number: 301, status: 'MERGED', currentPatchSet: 2, currentRevision: change.revision, commitMessage: change.commitMessage });
    expect(merged.change.owner.username).toBe('bob');
    expect(merged.change.uploader?.accountId).toBe(merged.change.owner.accountId);
    // alice's patch set 1 vote is stale; her patch set 2 vote counts once
    expect(merged.change.votes['Code-Review']!.map((v) => [v.account.username, v.value])).toEqual([
      ['carol', 1],
      ['alice', 2],
    ]);
    expect(merged.filesKnown).toBe(false);
  });

  it('gives each username one stable id, distinct from everyone else', () => {
    const replay = new EventReplay();
    const a1 = replay.account({ username: 'alice', email: 'a@x' });
    const b = replay.account({ username: 'bob' });
    const a2 = replay.account({ username: 'alice', name: 'Alice' });
    expect(a1!.accountId).toBe(a2!.accountId);
    expect(b!.accountId).not.toBe(a1!.accountId);
    expect(replay.account({ name: 'no username or email' })).toBeUndefined();
  });

  it('counts only the latest value of a vote, and a vote set back to 0 or deleted not at all', () => {
    const change = mergedChange(302, bob);
    const replay = new EventReplay();
    const deleted = { ...vote(change, carol, 0), type: 'vote-deleted', reviewer: { username: 'carol' } };
    const votes = (steps: ReplayStep[]) => (steps.find((s) => s.kind === 'merged') as Extract<ReplayStep, { kind: 'merged' }>).change.votes;
    feed(replay, vote(change, alice, 2), vote(change, alice, 0), vote(change, carol, 2));
    // vote-deleted is not in rollgate's stream model; replay reads it with its own schema
    replay.apply({ type: 'vote-deleted', change: { project: 'payments/api', branch: 'main', number: 302, subject: '' }, patchSet: { number: 1, revision: change.revision }, reviewer: { username: 'carol' } }, deleted, new Date(0));
    expect(votes(feed(replay, changeMergedEvent(change)))).toEqual({});
  });

  it('turns /rollout approve after the merge into a request to approve at the comment time, and ignores one before the merge', () => {
    const change = mergedChange(303, bob);
    const replay = new EventReplay();
    const before = feed(replay, { ...commentAddedEvent(change, alice, '/rollout approve too early'), eventCreatedOn: 10 });
    expect(before).toEqual([]);
    feed(replay, changeMergedEvent(change));
    const after = feed(replay, { ...commentAddedEvent(change, carol, 'ok\n/rollout approve ship it'), eventCreatedOn: 1763885000 }, { ...commentAddedEvent(change, alice, '/rollout approve hotfix'), eventCreatedOn: 1763885100 });
    expect(after.map((s) => s.kind)).toEqual(['approve', 'approve']);
    const last = after[1] as Extract<ReplayStep, { kind: 'approve' }>;
    expect(last.at.toISOString()).toBe(new Date(1763885100 * 1000).toISOString());
    expect(last.by.username).toBe('alice');
    expect(last.justification).toBe('hotfix');
    // nothing counts until the caller (whoMayAct, as serve) lets it
    expect(replay.approvals(change, 'payments-api-prod')).toEqual([]);
  });

  it('keeps the approvals the caller counted per rule, one per person (the latest), until the next merge', () => {
    const change = mergedChange(305, bob);
    const replay = new EventReplay();
    feed(replay, changeMergedEvent(change));
    const [first] = feed(replay, commentAddedEvent(change, alice, '/rollout approve one')) as Array<Extract<ReplayStep, { kind: 'approve' }>>;
    replay.countApproval(change, 'prod', { account: first!.by, justification: 'one' });
    const [second] = feed(replay, commentAddedEvent(change, alice, '/rollout approve two')) as Array<Extract<ReplayStep, { kind: 'approve' }>>;
    replay.countApproval(change, 'prod', { account: second!.by, justification: 'two' });
    expect(replay.approvals(change, 'prod').map((a) => [a.account.username, a.justification])).toEqual([['alice', 'two']]);
    // another rule's rollout has its own approvals: none were counted for it
    expect(replay.approvals(change, 'staging')).toEqual([]);
    feed(replay, changeMergedEvent(change));
    expect(replay.approvals(change, 'prod')).toEqual([]);
  });

  it('refuses to decide a merge whose owner it cannot identify', () => {
    const change = mergedChange(304, bob);
    const event = changeMergedEvent(change) as Record<string, any>;
    const steps = feed(new EventReplay(), { ...event, change: { ...event.change, owner: { name: 'Bob' } } });
    expect(steps).toEqual([{ kind: 'problem', message: 'change 304: change.owner has no username, so self-approval cannot be checked; not decided' }]);
  });
});
