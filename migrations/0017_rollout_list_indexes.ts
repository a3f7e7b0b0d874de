import { sql, type Kysely } from 'kysely';

/**
 * Indexes for the rollouts list at scale (100,000 rollouts and more): a rollout's decisions by
 * rollout, the change owner every decision recorded (`inputs.owner`), so filtering the list by
 * owner looks up the few matching decisions instead of testing every rollout's, and the rule, so
 * the filter form's list of rules is a few index probes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('rollouts_rule').on('rollouts').columns(['rule', 'id']).execute();
  await db.schema.createIndex('decisions_rollout').on('decisions').column('rollout_id').execute();
  await sql`create index decisions_owner on decisions using gin ((inputs -> 'owner') jsonb_path_ops)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('decisions_owner').ifExists().execute();
  await db.schema.dropIndex('decisions_rollout').ifExists().execute();
  await db.schema.dropIndex('rollouts_rule').ifExists().execute();
}
