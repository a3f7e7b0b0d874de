import { sql, type Kysely } from 'kysely';
import type { Database, EventRow } from '../db/schema.js';

/** The back-fill's checkpoint (`src/intake/backfill.ts` writes it; the floor may not import a stage). */
const BACKFILL_CHECKPOINT = 'backfill.merged-since';

export type EventSummary = Pick<EventRow, 'id' | 'source' | 'type' | 'status' | 'reason' | 'received_at' | 'attempts' | 'not_before'> & {
  /** The start of the stored line, for a person to recognise it (rejected lines may not be JSON). */
  readonly head: string;
};

/** What the intake health page shows from the database. */
export interface IntakeRecord {
  readonly lastEvent: EventSummary | undefined;
  readonly counts: { readonly pending: number; readonly failed: number; readonly rejected: number };
  /** The oldest pending events, the next to be decided. */
  readonly pending: readonly EventSummary[];
  /** The latest rejected lines, newest first. */
  readonly rejected: readonly EventSummary[];
  /** The last back-fill sweep: when it started, and the merges it stored that rollgate had not seen. */
  readonly backfill: { readonly at: Date; readonly found: readonly BackfilledMerge[] } | undefined;
  /** The latest merges any back-fill found, newest first: a sweep that found nothing does not hide them. */
  readonly backfilled: readonly BackfilledMerge[];
}

/** A merge the back-fill found and stored, and what became of it. */
export interface BackfilledMerge {
  readonly id: number;
  readonly receivedAt: Date;
  readonly status: EventRow['status'];
  readonly project: string | undefined;
  readonly changeNumber: number | undefined;
}

const SHOWN = 10;

/** Reads the events table and the back-fill checkpoint for the intake health page; changes nothing. */
export class IntakeReads {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async record(): Promise<IntakeRecord> {
    const summary = this.#db
      .selectFrom('events')
      .select(['id', 'source', 'type', 'status', 'reason', 'received_at', 'attempts', 'not_before', sql<string>`left(raw, 200)`.as('head')]);
    const lastEvent = await summary.orderBy('id', 'desc').limit(1).executeTakeFirst();
    const counted = await this.#db
      .selectFrom('events')
      .select(['status', sql<number>`count(*)::int`.as('n')])
      .where('status', 'in', ['pending', 'failed', 'rejected'])
      .groupBy('status')
      .execute();
    const count = (status: string) => counted.find((c) => c.status === status)?.n ?? 0;
    const pending = await summary.where('status', '=', 'pending').orderBy('id').limit(SHOWN).execute();
    const rejected = await summary.where('status', '=', 'rejected').orderBy('id', 'desc').limit(SHOWN).execute();
    const checkpoint = await this.#db.selectFrom('checkpoints').select('value').where('name', '=', BACKFILL_CHECKPOINT).executeTakeFirst();
    const at = readAt(checkpoint?.value);
    // a sweep stores what it finds after it starts, then moves the checkpoint to its start
    const found = at
      ? await this.#db.selectFrom('events').select(['id', 'received_at', 'status', 'raw']).where('source', '=', 'backfill').where('received_at', '>=', at).orderBy('id').limit(50).execute()
      : [];
    const backfilled = await this.#db.selectFrom('events').select(['id', 'received_at', 'status', 'raw']).where('source', '=', 'backfill').orderBy('id', 'desc').limit(SHOWN).execute();
    return {
      backfilled: backfilled.map(backfilledMerge),
      lastEvent,
      counts: { pending: count('pending'), failed: count('failed'), rejected: count('rejected') },
      pending,
      rejected,
      backfill: at ? { at, found: found.map(backfilledMerge) } : undefined,
    };
  }
}

function readAt(value: unknown): Date | undefined {
  const at = typeof value === 'object' && value !== null && 'at' in value ? (value as { at: unknown }).at : undefined;
  const date = typeof at === 'string' ? new Date(at) : undefined;
  return date && !Number.isNaN(date.getTime()) ? date : undefined;
}

/** The change of a back-filled event: rollgate wrote its JSON itself (src/intake/backfill.ts). */
function backfilledMerge(e: Pick<EventRow, 'id' | 'received_at' | 'status' | 'raw'>): BackfilledMerge {
  let change: { project?: unknown; number?: unknown } | undefined;
  try {
    change = (JSON.parse(e.raw) as { change?: { project?: unknown; number?: unknown } }).change;
  } catch {
    change = undefined;
  }
  return {
    id: e.id,
    receivedAt: e.received_at,
    status: e.status,
    project: typeof change?.project === 'string' ? change.project : undefined,
    changeNumber: typeof change?.number === 'number' ? change.number : undefined,
  };
}
