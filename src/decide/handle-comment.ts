import type { GerritAccount } from '../gerrit/gerrit-client.js';
import type { CommentAddedEvent } from '../gerrit/gerrit-event.js';
import { MAX_COMMANDS_PER_COMMENT, parseCommentCommands } from '../policy/comment-command.js';
import { bindToGerritMessage } from './comment-message.js';
import { displayName } from '../policy/decide.js';
import type { DecideDeps, Handled } from './decide-deps.js';
import { handleVote } from './handle-vote.js';
import { approveAtGate, approveHeld, denyRollout, operateRollout, type ActingPerson } from '../actions/rollout-actions.js';

/**
 * A review comment with `/rollout` commands on a merged change: each command is applied to the
 * change's rollouts through `rollout-actions.ts`, the same code the HTTP API uses, so roles,
 * approvals and refusals are the same either way. `approve` records an approval for each held
 * rollout and decides it again under the same rules as votes (roles, no self-approval, quorum,
 * windows), or passes a workflow's approval gate. `deny`, `retry`, `rollback` and `cancel` need
 * one of the rule's approval or break-glass roles; anyone else gets a reply naming the role and
 * nothing changes. The author is resolved over REST, because stream events name people but
 * carry no account id, and the comment counts only as the Gerrit message it stands for, each
 * message once (`comment-message.ts`): a webhook delivery Gerrit does not show is ignored.
 *
 * A comment gets at most one reply, answering all its commands together; a comment with more than
 * MAX_COMMANDS_PER_COMMENT commands is answered that it has too many and none is acted on.
 */
export async function handleComment(d: DecideDeps, event: CommentAddedEvent, eventId: number, source: string): Promise<Handled> {
  const author = event.author?.username ?? event.author?.email;
  if (author === undefined) return { status: 'ignored', reason: 'comment has no author' };
  if (d.serviceUser !== undefined && author === d.serviceUser) return { status: 'ignored', reason: "rollgate's own comment" };
  const commands = parseCommentCommands(event.comment);
  if (commands.length === 0) return handleVote(d, event, eventId);
  const account = await d.gerrit.getAccount(author);
  // the event names a comment; only a Gerrit message by that account, used once, makes it one
  const binding = await bindToGerritMessage(d, { project: event.change.project, changeNumber: event.change.number, account, author, commands, eventId, source });
  if (binding.kind === 'refused') return { status: 'ignored', reason: binding.reason };

  if (commands.length > MAX_COMMANDS_PER_COMMENT) {
    await reply(d, event, eventId, [
      `${author}'s comment has ${commands.length} /rollout commands; at most ${MAX_COMMANDS_PER_COMMENT} are read from one comment, so none of them was acted on. Give each command on a line of its own, in as few comments as you need.`,
    ]);
    return { status: 'processed', reason: `${commands.length} commands, over the limit of ${MAX_COMMANDS_PER_COMMENT}; answered, none acted on` };
  }

  // everything this comment is answered with goes into one reply, posted once the commands are done
  const answers: string[] = [];
  const say: Say = (message) => {
    answers.push(message.replace(/^rollgate: /, ''));
    return Promise.resolve();
  };
  const outcomes: string[] = [];
  const seen = new Set<string>();
  // answered in the comment's order
  for (const command of commands) {
    if (command.kind === 'invalid') {
      await say(command.problem);
      outcomes.push('invalid command answered');
      continue;
    }
    // the same command twice in one comment is one command
    const key = `${command.kind} ${command.text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const person = commenter(account, eventId);
    if (command.kind === 'approve') outcomes.push(await approve(d, event, person, command.text, say));
    else if (command.kind === 'deny') outcomes.push(await deny(d, event, person, command.text, say));
    else outcomes.push(await operate(d, event, person, command.kind, command.text, say));
  }
  await reply(d, event, eventId, answers);
  // which Gerrit message this was, so the event row shows what it was bound to
  const boundTo = binding.kind === 'bound' ? `Gerrit message ${binding.messageId}: ` : '';
  return { status: 'processed', reason: `${boundTo}${outcomes.join('; ')}` };
}

/**
 * The one reply a comment gets, answering all its commands (nothing when none needs an answer: a
 * start or hold message says it then). Keyed by the event, so processing it again posts nothing new.
 */
async function reply(d: DecideDeps, event: CommentAddedEvent, eventId: number, answers: readonly string[]): Promise<void> {
  const distinct = [...new Set(answers)];
  if (distinct.length === 0) return;
  const message = `rollgate: ${distinct.join('\n\n')}`;
  // posted on the revision REST names: the event's patch set is only a hint (a webhook body says what it likes)
  const { currentRevision } = await d.gerrit.getChange(event.change.project, event.change.number);
  await d.messages.reply(event.change, currentRevision, eventId, message);
  d.onReport();
}

type Say = (message: string) => Promise<void>;

/** Who gave this comment's commands, for the shared rollout actions. */
function commenter(account: GerritAccount, eventId: number): ActingPerson {
  return { account, idpGrants: [], source: 'comment', key: `event:${eventId}`, eventId };
}

/** `/rollout approve <justification>`: each held rollout of the change, else each one waiting at an approval gate. */
async function approve(d: DecideDeps, event: CommentAddedEvent, person: ActingPerson, justification: string, say: Say): Promise<string> {
  const held = await d.rollouts.heldForChange(event.change.project, event.change.number);
  if (held.length > 0) {
    const results: string[] = [];
    for (const rollout of held) {
      const result = await approveHeld(d, rollout, person, justification);
      // a refusal is a reply; otherwise the outcome is posted as the start or hold message
      if (result.outcome === 'forbidden') await say(result.message);
      results.push(result.message);
    }
    return results.join('; ');
  }
  const waiting = await d.rollouts.waitingForChange(event.change.project, event.change.number);
  if (waiting.length > 0 && d.operations) {
    const results: string[] = [];
    for (const rollout of waiting) {
      const result = await approveAtGate(d, rollout, person, justification);
      await say(result.message);
      results.push(result.message);
    }
    return results.join('; ');
  }
  await say(`${displayName(person.account)}'s /rollout approve has nothing to approve: no rollout of this change is waiting for approval.`);
  return 'approve with nothing held';
}

/** `/rollout deny <reason>`: a held rollout will not run; one waiting at an approval gate is stopped. */
async function deny(d: DecideDeps, event: CommentAddedEvent, person: ActingPerson, reason: string, say: Say): Promise<string> {
  const held = await d.rollouts.heldForChange(event.change.project, event.change.number);
  const waiting = held.length > 0 || !d.operations ? [] : await d.rollouts.waitingForChange(event.change.project, event.change.number);
  if (held.length === 0 && waiting.length === 0) {
    await say(`${displayName(person.account)}'s /rollout deny has nothing to deny: no rollout of this change is waiting for approval.`);
    return 'deny with nothing held';
  }
  const results: string[] = [];
  for (const rollout of held.length > 0 ? held : waiting) {
    const result = await denyRollout(d, rollout, person, reason);
    // a denied held rollout gets its deny message; a refusal, or a stopped gate, gets a reply
    if (result.outcome === 'forbidden' || held.length === 0) await say(result.message);
    if (result.outcome !== 'nothing' || held.length === 0) results.push(result.message);
  }
  return results.join('; ');
}

/** `/rollout retry|rollback|cancel`: each rollout of the change is asked; the reply says what happened, or why nothing did. */
async function operate(d: DecideDeps, event: CommentAddedEvent, person: ActingPerson, verb: 'retry' | 'rollback' | 'cancel', reason: string, say: Say): Promise<string> {
  const rollouts = await d.reads.list({ project: event.change.project, changeNumber: event.change.number, limit: 20 });
  if (rollouts.length === 0 || !d.operations) {
    await say(`${displayName(person.account)}'s /rollout ${verb}: there is no rollout of this change to ${verb}.`);
    return `${verb} with no rollout`;
  }
  const done: string[] = [];
  const refused: string[] = [];
  for (const rollout of rollouts) {
    const result = await operateRollout(d, rollout, verb, person, reason);
    (result.outcome === 'done' ? done : refused).push(result.message);
  }
  const answer = done.length > 0 ? done : refused.slice(0, 1);
  for (const message of answer) await say(message);
  return answer.join('; ');
}
