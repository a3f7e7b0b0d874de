import type { RolloutRow } from '../db/schema.js';
import type { GerritAccount } from '../gerrit/gerrit-client.js';
import type { CommentAddedEvent } from '../gerrit/gerrit-event.js';
import { holdMessage, REVIEW_TAG } from '../report/format-message.js';
import { rolloutSummary } from '../report/rollout-summary.js';
import { parseCommentCommands } from './comment-command.js';
import { displayName } from './decide.js';
import { evaluateChange, votersOf } from './evaluate-change.js';
import type { DecideDeps, Handled } from './event-processor.js';
import { resolveRoles } from './voter-roles.js';

/**
 * A review comment: `/rollout approve <justification>` on a merged change records an approval
 * for each of the change's held rollouts and decides them again under the same rules as votes
 * (roles, no self-approval, quorum). The author is resolved over REST, because stream events
 * name people but carry no account id.
 */
export async function handleComment(d: DecideDeps, event: CommentAddedEvent, eventId: number): Promise<Handled> {
  const author = event.author?.username ?? event.author?.email;
  if (author === undefined) return { status: 'ignored', reason: 'comment has no author' };
  if (d.serviceUser !== undefined && author === d.serviceUser) return { status: 'ignored', reason: "rollgate's own comment" };
  const commands = parseCommentCommands(event.comment);
  if (commands.length === 0) return { status: 'ignored', reason: 'no rollout command in the comment' };

  const reply = async (key: string, message: string) => {
    await d.outbox.enqueue({ messageKey: `event:${eventId}:${key}`, rolloutId: null, project: event.change.project, changeNumber: event.change.number, revision: event.patchSet.revision, tag: REVIEW_TAG, message });
    d.onReport();
  };
  const invalid = commands.filter((c) => c.kind === 'invalid');
  if (invalid.length > 0) await reply('invalid', `rollgate: ${invalid.map((c) => c.problem).join('\n')}`);
  const approve = commands.find((c) => c.kind === 'approve');
  if (!approve) return { status: 'processed', reason: 'invalid rollout command answered' };

  const held = await d.rollouts.heldForChange(event.change.project, event.change.number);
  if (held.length === 0) {
    await reply('nothing-held', `rollgate: ${author}'s /rollout approve has nothing to approve: no rollout of this change is waiting for approval.`);
    return { status: 'processed', reason: 'approve with no held rollout' };
  }
  const account = await d.gerrit.getAccount(author);
  const outcomes: string[] = [];
  for (const rollout of held) outcomes.push(await approveRollout(d, rollout, account, approve.justification, eventId));
  return { status: 'processed', reason: outcomes.join('; ') };
}

async function approveRollout(d: DecideDeps, rollout: RolloutRow, account: GerritAccount, justification: string, eventId: number): Promise<string> {
  const policy = d.policy();
  const rule = policy.rollouts.find((r) => r.name === rollout.rule);
  if (!rule) return `${rollout.rule}: rule no longer in the policy, left on hold`;
  const change = await d.gerrit.getChange(rollout.project, rollout.change_number);
  await d.approvals.add({ rolloutId: rollout.id, accountId: account.accountId, username: account.username, justification, source: 'comment', eventId });
  const commentApprovals = (await d.approvals.forRollout(rollout.id)).map((a) => ({
    account: a.account_id === account.accountId ? account : { accountId: a.account_id, username: a.username ?? undefined },
    justification: a.justification,
  }));
  const rolesByAccount = await resolveRoles(d.gerrit, policy.roles, [...votersOf(policy, change), ...commentApprovals.map((a) => a.account.accountId)]);
  // decided again at this moment: membership and windows as they are now, not at the merge
  const at = new Date();
  const [decision] = evaluateChange({ policy, change, rolesByAccount, commentApprovals, at, onlyRule: rule.name });
  const result = decision!.result;
  await d.decisions.record({ rolloutId: rollout.id, rule, change, result, rolesByAccount, commentApprovals, at, trigger: 'comment', actor: account.username, policyVersion: policy.version });

  const updated = await d.rollouts.redecide(rollout.id, { decision: result.outcome, reasons: result.reasons, approvers: result.approvers, justification: result.justification });
  if (!updated) return `${rollout.rule}: no longer held`;
  if (result.outcome === 'allow') {
    d.onQueued();
    return `${rollout.rule}: approved by ${displayName(account)}, queued (rollout #${rollout.id})`;
  }
  await d.outbox.enqueue({
    messageKey: `rollout:${rollout.id}:${result.outcome}:event:${eventId}`,
    rolloutId: rollout.id,
    project: rollout.project,
    changeNumber: rollout.change_number,
    revision: rollout.revision,
    tag: REVIEW_TAG,
    message: holdMessage(rolloutSummary(updated, d.publicUrl)),
  });
  d.onReport();
  return `${rollout.rule}: still ${result.outcome} after ${displayName(account)}'s approval`;
}
