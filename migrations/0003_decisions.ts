import { sql, type Kysely } from 'kysely';

/**
 * The audit trail of decisions: every time a rule is decided for a change (at the merge, after an
 * approval or command, at expiry), one row with everything the decision was made from.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('decisions')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('rollout_id', 'bigint', (c) => c.references('rollouts.id').onDelete('set null'))
    .addColumn('rule', 'text', (c) => c.notNull())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('change_number', 'integer', (c) => c.notNull())
    .addColumn('revision', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('actor', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('reasons', 'jsonb', (c) => c.notNull())
    .addColumn('inputs', 'jsonb', (c) => c.notNull())
    .addColumn('policy_version', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('decisions_change').on('decisions').columns(['project', 'change_number']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('decisions').ifExists().execute();
}
