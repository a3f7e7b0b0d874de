import type { Kysely } from 'kysely';

/**
 * Votes a queued review carries (`{"Rollout-Ready": 1}`), posted with its message in one review;
 * null for a message alone. Only rollgate's readiness vote uses it today.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('outbox').addColumn('labels', 'jsonb').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('outbox').dropColumn('labels').execute();
}
