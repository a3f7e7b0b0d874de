import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { ChangeMessage, GerritAccount, GerritClient } from '../gerrit/gerrit-client.js';
import { parseCommentCommands, type CommentCommand } from '../policy/comment-command.js';

/** What binding a comment event to a Gerrit message came to. */
export type MessageBinding =
  | { readonly kind: 'bound'; readonly messageId: string }
  /** A stream event whose message REST does not show (yet): the stream is Gerrit's own word, so it still counts. */
  | { readonly kind: 'unbound' }
  | { readonly kind: 'refused'; readonly reason: string };

/**
 * Ties a comment event to the Gerrit message it stands for, and takes that message for this
 * event. Gerrit REST must show a message on the change by the same account (by account id, not
 * name) whose own command lines, read by the same parser, are exactly the event's: so text alice
 * only quoted, or wrote inside a code block or a sentence, is not her command. Each message is
 * taken once (`consumed_comment_messages`), the oldest untaken first, so the same text delivered
 * again, by a replayed webhook or by both stream and webhook, finds nothing left to act on.
 * Taking is idempotent for the event that took it, so a retried event goes on.
 */
export async function bindToGerritMessage(
  d: { readonly db: Kysely<Database>; readonly gerrit: Pick<GerritClient, 'getChangeMessages'> },
  input: { readonly project: string; readonly changeNumber: number; readonly account: GerritAccount; readonly author: string; readonly commands: readonly CommentCommand[]; readonly eventId: number; readonly source: string },
): Promise<MessageBinding> {
  const messages = await d.gerrit.getChangeMessages(input.project, input.changeNumber);
  const candidates = messages.filter((m) => m.authorAccountId === input.account.accountId && sameCommands(m, input.commands));
  if (candidates.length === 0) {
    if (input.source === 'stream') return { kind: 'unbound' };
    return {
      kind: 'refused',
      reason: `Gerrit shows no message by ${input.author} on change ${input.changeNumber} whose commands are exactly this comment's; a ${input.source} event is not acted on by itself`,
    };
  }
  for (const message of candidates) {
    if (await take(d.db, input, message.id)) return { kind: 'bound', messageId: message.id };
  }
  return {
    kind: 'refused',
    reason: `${input.author}'s message${candidates.length > 1 ? 's' : ''} on change ${input.changeNumber} with these commands (${candidates.map((m) => m.id).join(', ')}) ${candidates.length > 1 ? 'were' : 'was'} already acted on; each Gerrit message counts once`,
  };
}

function sameCommands(message: ChangeMessage, commands: readonly CommentCommand[]): boolean {
  const own = parseCommentCommands(message.message);
  return own.length === commands.length && own.every((c, i) => c.line === commands[i]!.line);
}

/** Takes the message for the event; true when it is this event's (now or from an earlier try). */
async function take(db: Kysely<Database>, input: { readonly project: string; readonly changeNumber: number; readonly account: GerritAccount; readonly eventId: number }, messageId: string): Promise<boolean> {
  await db
    .insertInto('consumed_comment_messages')
    .values({ project: input.project, change_number: input.changeNumber, message_id: messageId, event_id: input.eventId, account_id: input.account.accountId })
    .onConflict((oc) => oc.columns(['project', 'change_number', 'message_id']).doNothing())
    .execute();
  const row = await db
    .selectFrom('consumed_comment_messages')
    .select('event_id')
    .where('project', '=', input.project)
    .where('change_number', '=', input.changeNumber)
    .where('message_id', '=', messageId)
    .executeTakeFirstOrThrow();
  return row.event_id === input.eventId;
}
