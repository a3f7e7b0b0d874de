import { sql, type Kysely } from 'kysely';

/**
 * Merge order and orphaned step processes.
 * - `rollouts.merged_at`: when the change was merged (Gerrit's submitted time, or the event's).
 *   An environment's queue runs in this order, not in the order rollgate happened to decide:
 *   a back-fill or a late approval can decide an older merge after a newer one.
 * - `rollout_steps.process_group` and `process_host`: the process group of a running `run`
 *   step and the host that started it, so the worker that reclaims the step after a crash can
 *   kill what the dead worker left running on that host before it runs the step again.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('rollouts').addColumn('merged_at', 'timestamptz').execute();
  // rollouts decided before this migration keep the order they had: decision order
  await sql`update rollouts set merged_at = created_at`.execute(db);
  await sql`alter table rollouts alter column merged_at set not null, alter column merged_at set default now()`.execute(db);
  await db.schema.dropIndex('rollouts_queue').ifExists().execute();
  await db.schema.createIndex('rollouts_merge_queue').on('rollouts').columns(['environment', 'status', 'merged_at', 'id']).execute();

  await db.schema.alterTable('rollout_steps').addColumn('process_group', 'integer').addColumn('process_host', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('rollout_steps').dropColumn('process_group').dropColumn('process_host').execute();
  await db.schema.dropIndex('rollouts_merge_queue').ifExists().execute();
  await db.schema.createIndex('rollouts_queue').on('rollouts').columns(['environment', 'status', 'id']).execute();
  await db.schema.alterTable('rollouts').dropColumn('merged_at').execute();
}
