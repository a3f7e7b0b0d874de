import { sql, type Kysely, type RawBuilder } from 'kysely';
import { leaseNextDue } from '../db/lease.js';
import type { Database, EventRow, EventStatus, NewEvent } from '../db/schema.js';
import { storableJsonText, storableText } from '../db/storable-text.js';

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

  /**
   * Stores the events not seen before; returns the dedup keys of those it stored. The batch goes
   * as one array per column, unnested in the given order: one small statement whatever the batch
   * size, prepared once per pooled connection, where a multi-row VALUES has nine parameters per
   * row. Of repeats within the batch the first is stored, as with VALUES.
   */
  async insertNew(events: readonly NewEvent[]): Promise<Set<string>> {
    if (events.length === 0) return new Set();
    const c = columns(events);
    const inserted = await sql<{ dedup_key: string }>`
      insert into events (dedup_key, source, type, raw, status, reason, received_at, event_created_on, not_before, processed_at, attempts)
      select dedup_key, source, type, raw, status, reason, coalesce(received_at, now()), event_created_on, coalesce(not_before, now()), processed_at, coalesce(attempts, 0)
      from unnest(${c.dedupKey}::text[], ${c.source}::text[], ${c.type}::text[], ${rawLines(c.raw)}, ${c.status}::text[], ${c.reason}::text[],
                  ${c.receivedAt}::timestamptz[], ${c.eventCreatedOn}::bigint[], ${c.notBefore}::timestamptz[], ${c.processedAt}::timestamptz[], ${c.attempts}::integer[])
        with ordinality as e(dedup_key, source, type, raw, status, reason, received_at, event_created_on, not_before, processed_at, attempts, n)
      order by n
      on conflict (dedup_key) do nothing
      returning dedup_key`.execute(this.#db);
    return new Set(inserted.rows.map((r) => r.dedup_key));
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

type Timestamp = Date | string | null | undefined;

/**
 * Timestamps as PostgreSQL reads them in an array; undefined becomes null (the column's default
 * then applies). A batch's rows share a few distinct milliseconds (a row's times are often the same
 * Date, and a burst arrives within a millisecond), so the last one formatted is reused.
 */
function timestampTexts() {
  let lastMs = NaN;
  let lastText = '';
  return (t: Timestamp): string | null => {
    if (t === null || t === undefined) return null;
    if (typeof t === 'string') return t;
    const ms = t.getTime();
    if (ms !== lastMs) {
      lastMs = ms;
      lastText = t.toISOString();
    }
    return lastText;
  };
}

/**
 * The raw lines as one text[] expression. Stream lines have no newline, so they go as one text
 * joined by newlines and split by the server: an array literal would escape every quote of every
 * line (costing more than parsing it), and a parameter per line would make a statement too big to
 * prepare. Each line is made storable here, as the database plugin does with every bound value;
 * the joined text starts with a line of its own that is dropped again (`[2:]`), so it is never a
 * JSON document the plugin would read as one. A batch with a line that is empty or has a newline
 * (a webhook body) goes as an ordinary array.
 */
function rawLines(raws: readonly string[]): RawBuilder<unknown> {
  const storable = raws.map((raw) => storableJsonText(storableText(raw)));
  if (storable.every((raw) => raw !== '' && !raw.includes('\n'))) return sql`(string_to_array(${`-\n${storable.join('\n')}`}, chr(10)))[2:]`;
  return sql`${storable}::text[]`;
}

/** The rows as one array per column, for `unnest`. */
function columns(events: readonly NewEvent[]) {
  const n = events.length;
  const c = {
    dedupKey: new Array<string>(n),
    source: new Array<string>(n),
    type: new Array<string | null>(n),
    raw: new Array<string>(n),
    status: new Array<string>(n),
    reason: new Array<string | null>(n),
    receivedAt: new Array<string | null>(n),
    eventCreatedOn: new Array<number | null>(n),
    notBefore: new Array<string | null>(n),
    processedAt: new Array<string | null>(n),
    attempts: new Array<number | null>(n),
  };
  const timestampText = timestampTexts();
  for (let i = 0; i < n; i++) {
    const e = events[i]!;
    c.dedupKey[i] = e.dedup_key;
    c.source[i] = e.source;
    c.type[i] = e.type ?? null;
    c.raw[i] = e.raw;
    c.status[i] = e.status;
    c.reason[i] = e.reason ?? null;
    c.receivedAt[i] = timestampText(e.received_at);
    c.eventCreatedOn[i] = e.event_created_on ?? null;
    c.notBefore[i] = timestampText(e.not_before);
    c.processedAt[i] = timestampText(e.processed_at);
    c.attempts[i] = e.attempts ?? null;
  }
  return c;
}
