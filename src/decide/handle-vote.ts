import { decideHeldOnVote } from '../actions/vote-after-merge.js';
import { changesAVote, EventApprovalsSchema, type CommentAddedEvent } from '../gerrit/gerrit-event.js';
import type { DecideDeps, Handled } from './decide-deps.js';
import { updateReadiness } from './readiness.js';

/**
 * A review with no `/rollout` command that changed a vote: on a merged change, a vote after the
 * merge can be the approval a held rollout waits for (`decideHeldOnVote`). The event's votes are
 * only a hint that something was voted; what counts is read from Gerrit REST.
 */
export async function handleVote(d: DecideDeps, event: CommentAddedEvent, eventId: number): Promise<Handled> {
  const votes = EventApprovalsSchema.safeParse(event.approvals);
  if (!votes.success || !changesAVote(votes.data)) return { status: 'ignored', reason: 'no rollout command in the comment' };
  const { project, number } = event.change;
  const outcomes = await decideHeldOnVote(d, { project, changeNumber: number, voter: event.author?.username, key: `event:${eventId}` });
  // held rollouts are on merged changes, readiness on open ones: a change has one or the other
  if (outcomes.length === 0 && d.readinessLabel !== undefined) {
    const readiness = await updateReadiness(d, d.readinessLabel, await d.gerrit.getChange(project, number));
    if (readiness !== undefined) outcomes.push(readiness);
  }
  if (outcomes.length === 0) return { status: 'ignored', reason: 'a vote on a change with no held rollout' };
  return { status: 'processed', reason: outcomes.join('; ') };
}
