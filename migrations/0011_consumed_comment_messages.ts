import { sql, type Kysely } from 'kysely';

/**
 * The Gerrit messages whose `/rollout` commands rollgate acted on. A comment event (above all a
 * webhook delivery, which anyone holding the secret can send) counts only as a Gerrit message
 * by its author, and each message is acted on once: the primary key makes a second event naming
 * the same message (a replay, or the same comment by stream and webhook) find it taken.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('consumed_comment_messages')
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('change_number', 'integer', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'integer', (c) => c.notNull())
    .addColumn('account_id', 'integer', (c) => c.notNull())
    .addColumn('consumed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('consumed_comment_messages_pkey', ['project', 'change_number', 'message_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('consumed_comment_messages').execute();
}
