import { sql, type Kysely } from 'kysely';

/**
 * The roles an operator held through IdP group claims when they approved. Gerrit groups are
 * looked up again whenever a held rollout is decided again, but IdP groups can only be read at
 * login, so an approval keeps them: otherwise a later approval would stop counting this one.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('approvals').addColumn('idp_grants', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`)).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('approvals').dropColumn('idp_grants').execute();
}
