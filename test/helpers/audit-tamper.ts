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

/** Empties the trail and resets its head, as a fresh database has it: for tests that start from nothing. */
export async function emptyAuditTrail(db: Kysely<Database>): Promise<void> {
  await withAuditTriggerOff(db, () => db.deleteFrom('audit_log').execute());
  await db.updateTable('audit_head').set({ last_id: 0, last_hash: '0'.repeat(64), prev_hash: '0'.repeat(64) }).execute();
}
