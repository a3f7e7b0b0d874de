import { sql, type Kysely } from 'kysely';

/**
 * The decide stage only ever looks for pending events, and most stored events are not pending
 * (types rollgate does not act on are stored as ignored). A partial index over the pending ones
 * keeps the queue lookup as fast and spares every ignored or rejected insert one index update.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('events_pending').execute();
  await sql`create index events_pending on events (not_before, id) where status = 'pending'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('events_pending').execute();
  await db.schema.createIndex('events_pending').on('events').columns(['status', 'not_before']).execute();
}
