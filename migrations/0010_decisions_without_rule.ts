import { type Kysely } from 'kysely';

/**
 * A merge no rule matches is a decision too (`ignore`), and the audit should show it with its
 * reason (a mistyped `Rollout:` footer is the usual case); such a decision has no rule.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('decisions').alterColumn('rule', (c) => c.dropNotNull()).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await (db as Kysely<{ decisions: { rule: string | null } }>).deleteFrom('decisions').where('rule', 'is', null).execute();
  await db.schema.alterTable('decisions').alterColumn('rule', (c) => c.setNotNull()).execute();
}
