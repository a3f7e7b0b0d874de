import { sql, type Kysely } from 'kysely';
import { leaseNextDue } from '../db/lease.js';
import type { Database, EventRow, EventStatus, NewEvent } from '../db/schema.js';

/** The `events` table: every line rollgate received, and where its processing stands. */
export class EventStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Stores events; one already stored under the same dedup key is left as it is. Returns how many were new. */
  async insertMany(events: readonly NewEvent[]): Promise<number> {
    return (await this.insertNew(events)).size;
  }

  /** Stores the events not seen before; returns the dedup keys of those it stored. */
  async insertNew(events: readonly NewEvent[]): Promise<Set<string>> {
    if (events.length === 0) return new Set();
    const inserted = await this.#db
      .insertInto('events')
      .values([...events])
      .onConflict((oc) => oc.column('dedup_key').doNothing())
      .returning('dedup_key')
      .execute();
    return new Set(inserted.map((r) => r.dedup_key));
  }

  /**
   * Takes the oldest pending event that is due and pushes its `not_before` forward by `leaseMs`,
   * so if this process dies mid-way the event becomes due again and another pass picks it up.
   */
  async claimDue(leaseMs: number): Promise<EventRow | undefined> {
    return leaseNextDue(this.#db, 'events', leaseMs);
  }

  async finish(id: number, status: Exclude<EventStatus, 'pending'>, reason: string | null): Promise<void> {
    await this.#db.updateTable('events').set({ status, reason, processed_at: sql`now()` }).where('id', '=', id).execute();
  }

  /** Leaves the event pending and due again after `delayMs`, noting why. */
  async retryLater(id: number, delayMs: number, reason: string): Promise<void> {
    await this.#db
      .updateTable('events')
      .set({ reason, not_before: sql`now() + ${`${delayMs} milliseconds`}::interval` })
      .where('id', '=', id)
      .execute();
  }

  async list(filter: { status?: EventStatus; limit?: number } = {}): Promise<EventRow[]> {
    let q = this.#db.selectFrom('events').selectAll().orderBy('id', 'desc').limit(filter.limit ?? 100);
    if (filter.status) q = q.where('status', '=', filter.status);
    return q.execute();
  }
}
