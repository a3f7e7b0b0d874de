import type { Kysely } from 'kysely';

/**
 * The keys rollgate signs step identity tokens with (it is an OpenID issuer for its steps). One row
 * per key: its `kid`, algorithm and public JWK (published at `/.well-known/jwks.json`), the private
 * key encrypted with AES-256-GCM under a key derived from ROLLGATE_STEP_TOKEN_KEY_FILE (so a copy of
 * the table signs nothing), when it was made and the last moment it signs (`not_after`). A key stays
 * published after `not_after` until every token it signed has expired.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('step_token_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('algorithm', 'text', (c) => c.notNull())
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('private_key_encrypted', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('not_after', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('step_token_keys_not_after').on('step_token_keys').column('not_after').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('step_token_keys').execute();
}
