import { z } from 'zod';
import { decideHeldOnVote } from '../actions/vote-after-merge.js';
import type { CommentAddedEvent } from '../gerrit/gerrit-event.js';
import type { DecideDeps, Handled } from './decide-deps.js';
import { updateReadiness } from './readiness.js';

/** The event's votes: Gerrit lists the author's vote on every label, and `oldValue` on those this review changed. */
const EventVotesSchema = z.array(z.looseObject({ value: z.union([z.string(), z.number()]), oldValue: z.union([z.string(), z.number()]).optional() }));

/** Whether the review changed a vote, as the event tells it (a hint: what counts is read over REST). */
function changesAVote(approvals: unknown): boolean {
  const votes = EventVotesSchema.safeParse(approvals);
  return votes.success && votes.data.some((v) => v.oldValue !== undefined && Number(v.oldValue) !== Number(v.value));
}

/**
 * A review with no `/rollout` command that changed a vote: on a merged change, a vote after the
 * merge can be the approval a held rollout waits for (`decideHeldOnVote`). The event's votes are
 * only a hint that something was voted; what counts is read from Gerrit REST.
 */
export async function handleVote(d: DecideDeps, event: CommentAddedEvent, eventId: number): Promise<Handled> {
  if (!changesAVote(event.approvals)) return { status: 'ignored', reason: 'no rollout command in the comment' };
  const { project, number } = event.change;
  const outcomes = await decideHeldOnVote(d, { project, changeNumber: number, voter: event.author?.username, key: `event:${eventId}` });
  // on an open change, the vote may change whether it would roll out if merged now
  const readiness = d.readinessLabel === undefined ? undefined : await updateReadiness(d, d.readinessLabel, project, number);
  if (readiness !== undefined) outcomes.push(readiness);
  if (outcomes.length === 0) return { status: 'ignored', reason: 'a vote on a change with no held rollout' };
  return { status: 'processed', reason: outcomes.join('; ') };
}
