import { sql, type Kysely } from 'kysely';

/**
 * Leadership with a bounded lifetime (the Gerrit stream's leader). One row per kind of
 * leadership: who holds it, the generation (one more on every takeover, so a renewal or a write
 * by a replica that lost it can be told apart and refused), and until when it holds, by the
 * database's clock. A leader that stops renewing (hung, partitioned) loses it once `expires_at`
 * passes, whatever state its TCP session is in; one whose database session has ended (killed, or
 * its connection closed) loses it at once.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('leader_leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('generation', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    // the holder's database session (backend pid and start): once it is gone (a leader killed,
    // its connection closed) the lease is taken over without waiting for it to lapse
    .addColumn('holder_pid', 'integer')
    .addColumn('holder_backend_start', 'timestamptz')
    .addColumn('acquired_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('renewed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('leader_leases').execute();
}
