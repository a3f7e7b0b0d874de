import { sql, type Kysely } from 'kysely';

/**
 * Operator sessions after an OIDC login, in the database so every replica sees them and a logout
 * (or an expiry) ends them everywhere. The cookie carries a random id; only its sha256 is stored,
 * so a copy of the table lets nobody log in. Gerrit groups are not kept: roles from Gerrit are
 * looked up again on each request.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('operator_sessions')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('login', 'text', (c) => c.notNull())
    .addColumn('account_id', 'integer', (c) => c.notNull())
    .addColumn('username', 'text')
    .addColumn('idp_groups', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('operator_sessions_expiry').on('operator_sessions').column('expires_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('operator_sessions').ifExists().execute();
}
