import type { Kysely } from 'kysely';

/**
 * What a rollout's decision was given for (JSON `ApprovalBinding`: the merged revision, a digest of
 * its workflow definition, the policy version, a digest of the three, and when it was decided), so
 * the check at its start can tell whether it still starts under what was approved. Null for rows
 * decided before this column existed: their start is checked against the policy in use alone.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('rollouts').addColumn('approval_binding', 'jsonb').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('rollouts').dropColumn('approval_binding').execute();
}
