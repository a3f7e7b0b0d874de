import type { Kysely } from 'kysely';

/**
 * The hash-chained audit trail (see src/audit/audit-store.ts). Ids and times are given by
 * rollgate, not by an identity column or a default: both are part of a row's hash, ids must have
 * no gaps (a missing id means a deleted row), and a sequence skips numbers on rollback. No foreign
 * key to rollouts: deleting a rollout must not rewrite (and so break) its audit rows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'bigint', (c) => c.primaryKey())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('rollout_id', 'bigint')
    .addColumn('project', 'text')
    .addColumn('change_number', 'integer')
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull())
    // unique: two rows after the same row would be a fork of the chain
    .addColumn('prev_hash', 'text', (c) => c.notNull().unique())
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_log_kind').on('audit_log').columns(['kind', 'id']).execute();
  await db.schema.createIndex('audit_log_rollout').on('audit_log').columns(['rollout_id', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('audit_log').ifExists().execute();
}
