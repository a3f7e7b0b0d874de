import { sql, type Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';

/**
 * Runs `fn` with audit_log's append-only trigger off, as an attacker who owns the table (or a
 * superuser) could: how tests rewrite the trail to show that verification still finds it.
 */
export async function withAuditTriggerOff<T>(db: Kysely<Database>, fn: () => Promise<T>): Promise<T> {
  await sql`alter table audit_log disable trigger audit_log_append_only`.execute(db);
  try {
    return await fn();
  } finally {
    await sql`alter table audit_log enable trigger audit_log_append_only`.execute(db);
  }
}
