import { sql, type Kysely } from 'kysely';

/**
 * The queue's own indexes, partial so they hold queued rollouts only: in merge order, which a
 * claim walks until the first in a free environment, and by environment in merge order, which
 * tells it whether that one is the oldest queued there (one probe). A claim then costs the same
 * whatever the statistics say and however many finished rollouts the table holds.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index rollouts_queued_in_order on rollouts (merged_at, id) where status = 'queued'`.execute(db);
  await sql`create index rollouts_queued on rollouts (environment, merged_at, id) where status = 'queued'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists rollouts_queued`.execute(db);
  await sql`drop index if exists rollouts_queued_in_order`.execute(db);
}
