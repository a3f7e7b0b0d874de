import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

/** How many rows one retention pass deleted, per table. */
export interface RetentionResult {
  readonly events: number;
  readonly outbox: number;
  /** Chunks of step output stored while steps ran. */
  readonly output: number;
}

/**
 * Deletes what rollgate no longer needs once it is older than `keepMs`: event lines that were
 * handled (processed, ignored or rejected) and review messages Gerrit accepted. It keeps what an
 * operator must still see or what still has work: pending and failed events, pending and failed
 * messages. The full output of step attempts that ended before the cutoff goes too; each step's
 * output tail (the part the report quotes) and every attempt's record stay. Rollouts, their
 * steps, approvals, decisions and the audit trail are never deleted here: they are the record of
 * who deployed what, and the audit chain must stay whole.
 *
 * Deleting an old event line only forgets its dedup key; the same merge arriving again (a
 * back-fill far behind) still finds its rollout by the rollout's own unique key, so nothing runs
 * twice.
 */
export async function deleteExpiredRows(db: Kysely<Database>, keepMs: number): Promise<RetentionResult> {
  const cutoff = sql<Date>`now() - ${`${keepMs} milliseconds`}::interval`;
  const events = await db.deleteFrom('events').where('status', 'in', ['processed', 'ignored', 'rejected']).where('received_at', '<', cutoff).executeTakeFirst();
  const outbox = await db.deleteFrom('outbox').where('status', '=', 'sent').where('sent_at', '<', cutoff).executeTakeFirst();
  const output = await db
    .deleteFrom('step_output')
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('step_attempts as a')
          .select('a.number')
          .whereRef('a.rollout_id', '=', 'step_output.rollout_id')
          .whereRef('a.step_id', '=', 'step_output.step_id')
          .whereRef('a.number', '=', 'step_output.number')
          .where('a.finished_at', '<', cutoff),
      ),
    )
    .executeTakeFirst();
  return { events: Number(events.numDeletedRows), outbox: Number(outbox.numDeletedRows), output: Number(output.numDeletedRows) };
}
