import type { RolloutRow } from '../db/schema.js';
import type { GerritAccount } from '../gerrit/gerrit-client.js';
import type { CommentAddedEvent } from '../gerrit/gerrit-event.js';
import { denyMessage, holdMessage, REVIEW_TAG } from '../report/format-message.js';
import { rolloutSummary } from '../report/rollout-summary.js';
import { parseCommentCommands } from './comment-command.js';
import { displayName, type Approver } from './decide.js';
import { evaluateChange, votersOf } from './evaluate-change.js';
import type { Actor, DecideDeps, Handled } from './event-processor.js';
import { ruleActionRoles } from './rule-roles.js';
import { resolveRoles } from './voter-roles.js';

/**
 * A review comment with `/rollout` commands on a merged change. `approve` records an approval for
 * each held rollout and decides it again under the same rules as votes (roles, no
 * self-approval, quorum, windows), or passes a workflow's approval gate. `deny`, `retry`,
 * `rollback` and `cancel` need one of the rule's approval or break-glass roles; anyone else gets a
 * reply naming the role and nothing changes. The author is resolved over REST, because stream
 * events name people but carry no account id.
 */
export async function handleComment(d: DecideDeps, event: CommentAddedEvent, eventId: number, source: string): Promise<Handled> {
  const author = event.author?.username ?? event.author?.email;
  if (author === undefined) return { status: 'ignored', reason: 'comment has no author' };
  if (d.serviceUser !== undefined && author === d.serviceUser) return { status: 'ignored', reason: "rollgate's own comment" };
  const commands = parseCommentCommands(event.comment);
  if (commands.length === 0) return { status: 'ignored', reason: 'no rollout command in the comment' };
  if (source !== 'stream' && !(await commentIsOnGerrit(d, event, author))) {
    // only Gerrit's own stream is trusted to say who wrote what; a webhook could be forged
    return { status: 'ignored', reason: `no such comment by ${author} on change ${event.change.number} in Gerrit; a ${source} event is not acted on by itself` };
  }

  const reply = async (key: string, message: string) => {
    await d.outbox.enqueue({ messageKey: `event:${eventId}:${key}`, rolloutId: null, project: event.change.project, changeNumber: event.change.number, revision: event.patchSet.revision, tag: REVIEW_TAG, message });
    d.onReport();
  };
  const outcomes: string[] = [];
  const invalid = commands.filter((c) => c.kind === 'invalid');
  if (invalid.length > 0) {
    await reply('invalid', `rollgate: ${invalid.map((c) => c.problem).join('\n')}`);
    outcomes.push('invalid command answered');
  }
  let account: GerritAccount | undefined;
  for (const [i, command] of commands.entries()) {
    if (command.kind === 'invalid') continue;
    account ??= await d.gerrit.getAccount(author);
    let said = 0;
    // one outbox key per reply, so several replies to one command are all posted (and each once)
    const say = (message: string) => reply(`${i}:${command.kind}:${said++}`, message.startsWith('rollgate: ') ? message : `rollgate: ${message}`);
    if (command.kind === 'approve') outcomes.push(await approve(d, event, account, command.text, eventId, say));
    else if (command.kind === 'deny') outcomes.push(await deny(d, event, account, command.text, eventId, say));
    else outcomes.push(await operate(d, event, account, command.kind, command.text, say));
  }
  return { status: 'processed', reason: outcomes.join('; ') };
}

type Say = (message: string) => Promise<void>;

/** Whether Gerrit shows this author's comment with this text on the change. */
async function commentIsOnGerrit(d: DecideDeps, event: CommentAddedEvent, author: string): Promise<boolean> {
  const body = event.comment.replace(/^Patch Set \d+:[^\n]*\n*/, '').trim();
  const messages = await d.gerrit.getChangeMessages(event.change.project, event.change.number);
  return messages.some((m) => m.author === author && m.message.includes(body));
}

async function approve(d: DecideDeps, event: CommentAddedEvent, account: GerritAccount, justification: string, eventId: number, say: Say): Promise<string> {
  const who = displayName(account);
  const held = await d.rollouts.heldForChange(event.change.project, event.change.number);
  if (held.length > 0) {
    const results: string[] = [];
    for (const rollout of held) results.push(await approveRollout(d, rollout, account, justification, eventId));
    return results.join('; ');
  }
  const waiting = d.operations ? await d.operations.waitingGates(event.change.project, event.change.number) : [];
  if (waiting.length > 0 && d.operations) {
    // separation of duties holds at a gate too: the author of the change cannot let it go on
    const change = await d.gerrit.getChange(event.change.project, event.change.number);
    const self = change.owner.accountId === account.accountId ? 'owns' : change.uploader?.accountId === account.accountId ? 'uploaded' : undefined;
    if (self) {
      await say(`${who}'s /rollout approve does not count: ${who} ${self} the change, and an approval gate needs someone else (no self-approval).`);
      return 'gate approval by the author refused';
    }
    const results: string[] = [];
    for (const rolloutId of waiting) {
      const result = await d.operations.approveGate(rolloutId, await actorOf(d, account), justification);
      await say(result.message);
      results.push(result.message);
    }
    return results.join('; ');
  }
  await say(`${who}'s /rollout approve has nothing to approve: no rollout of this change is waiting for approval.`);
  return 'approve with nothing held';
}

/** `/rollout deny <reason>`: a held rollout will not run. */
async function deny(d: DecideDeps, event: CommentAddedEvent, account: GerritAccount, reason: string, eventId: number, say: Say): Promise<string> {
  const held = await d.rollouts.heldForChange(event.change.project, event.change.number);
  if (held.length === 0) {
    await say(`${displayName(account)}'s /rollout deny has nothing to deny: no rollout of this change is waiting for approval.`);
    return 'deny with nothing held';
  }
  const results: string[] = [];
  for (const rollout of held) {
    const refusal = await refuseWithoutRole(d, rollout, account, 'deny');
    if (refusal) {
      await say(refusal);
      results.push(refusal);
      continue;
    }
    const reasons = [{ code: 'denied-by-command' as const, message: `denied by ${displayName(account)}: ${reason}` }];
    const updated = await d.rollouts.redecide(rollout.id, { decision: 'deny', reasons, approvers: rollout.approvers as Approver[], justification: rollout.justification ?? undefined });
    if (!updated) continue;
    d.metrics?.decisions.inc({ outcome: 'deny', trigger: 'command' });
    await d.outbox.enqueue({
      messageKey: `rollout:${rollout.id}:deny:event:${eventId}`,
      rolloutId: rollout.id,
      project: rollout.project,
      changeNumber: rollout.change_number,
      revision: rollout.revision,
      tag: REVIEW_TAG,
      message: denyMessage(rolloutSummary(updated, d.publicUrl)),
    });
    d.onReport();
    results.push(`${rollout.rule}: denied by ${displayName(account)}`);
  }
  return results.join('; ');
}

/** `/rollout retry|rollback|cancel`: handed to the workflow engine once the role is checked. */
async function operate(d: DecideDeps, event: CommentAddedEvent, account: GerritAccount, verb: 'retry' | 'rollback' | 'cancel', reason: string, say: Say): Promise<string> {
  const rollouts = await d.rollouts.list({ project: event.change.project, changeNumber: event.change.number, limit: 20 });
  if (rollouts.length === 0 || !d.operations) {
    await say(`${displayName(account)}'s /rollout ${verb}: there is no rollout of this change to ${verb}.`);
    return `${verb} with no rollout`;
  }
  // ask the engine about each rollout of the change; answer with what happened, or why nothing did
  const done: string[] = [];
  const refused: string[] = [];
  for (const rollout of rollouts) {
    const refusal = await refuseWithoutRole(d, rollout, account, verb);
    if (refusal) {
      refused.push(refusal);
      continue;
    }
    const result = await d.operations[verb](rollout.id, await actorOf(d, account), reason);
    (result.ok ? done : refused).push(result.message);
  }
  const answer = done.length > 0 ? done : refused.slice(0, 1);
  for (const message of answer) await say(message);
  return answer.join('; ');
}

/** The reply for someone who may not give this command on this rollout, or undefined when they may. */
async function refuseWithoutRole(d: DecideDeps, rollout: RolloutRow, account: GerritAccount, verb: string): Promise<string | undefined> {
  const rule = d.policy().rollouts.find((r) => r.name === rollout.rule);
  const allowed = ruleActionRoles(rule);
  const held = (await actorOf(d, account)).roles;
  if (allowed.some((r) => held.includes(r))) return undefined;
  return `${displayName(account)} may not /rollout ${verb} rollout #${rollout.id} (${rollout.rule}): that needs role ${allowed.join(' or ')}; nothing was changed.`;
}

async function actorOf(d: DecideDeps, account: GerritAccount): Promise<Actor> {
  const grants = (await resolveRoles(d.gerrit, d.policy().roles, [account.accountId])).get(account.accountId) ?? [];
  return { accountId: account.accountId, username: account.username, roles: grants.map((g) => g.role) };
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
  d.metrics?.decisions.inc({ outcome: result.outcome, trigger: 'comment' });
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
