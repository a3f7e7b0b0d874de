import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from './schema.js';

/** Tables used as work queues: a `status`, a column saying when a row is due, and an `attempts` count. */
const QUEUES = { events: 'not_before', outbox: 'next_attempt_at' } as const;
type QueueTable = keyof typeof QUEUES;

/**
 * Extra conditions on the row taken (`q`). Review messages for one change go out in order: a
 * later one waits while an earlier one for the same change is still pending (in flight or
 * waiting for its retry); one Gerrit refused for good no longer holds the others back.
 */
const ORDER = {
  events: sql``,
  outbox: sql`and not exists (
    select 1 from outbox earlier
    where earlier.status = 'pending' and earlier.project = q.project and earlier.change_number = q.change_number and earlier.id < q.id
  )`,
} as const;

/**
 * Takes the oldest pending row that is due, counts the attempt, and pushes its due time forward
 * by `leaseMs`, in one statement. Other workers skip the locked row; if this worker dies, the row
 * becomes due again when the lease runs out, so no item is lost and none is worked on twice at once.
 */
export async function leaseNextDue<T extends QueueTable>(db: Kysely<Database>, table: T, leaseMs: number): Promise<Selectable<Database[T]> | undefined> {
  const due = sql.ref(QUEUES[table]);
  const result = await sql<Selectable<Database[T]>>`
    update ${sql.table(table)} set attempts = attempts + 1, ${due} = now() + ${`${leaseMs} milliseconds`}::interval
    where id = (
      select id from ${sql.table(table)} as q
      where status = 'pending' and ${due} <= now() ${ORDER[table]}
      order by id limit 1
      for update skip locked
    )
    returning *`.execute(db);
  return result.rows[0];
}
