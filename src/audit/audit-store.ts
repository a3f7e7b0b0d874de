import { sql, type Kysely } from 'kysely';
import type { AuditLogRow, Database } from '../db/schema.js';
import { auditAppendSql } from './audit-append-sql.js';
import { ChainChecker, type AuditEntry, type ChainBreak, type RecordedHead } from './audit-chain.js';
import type { AuditAppendSql, AuditEvent, AuditTrail } from './audit-trail.js';
import type { JsonValue } from './canonical-json.js';

/** What walking the whole chain found. */
export type AuditVerification =
  | { readonly ok: true; readonly rows: number; readonly head: RecordedHead | undefined }
  | { readonly ok: false; readonly rows: number; readonly broken: ChainBreak };

export interface AuditPageQuery {
  /** Entries with a greater id; the previous page's `next`. */
  readonly after?: number;
  readonly limit: number;
  readonly kind?: string;
  readonly rolloutId?: number;
}

export interface AuditPage {
  readonly entries: readonly AuditEntry[];
  /** Pass as `after` for the next page; null at the end. */
  readonly next: number | null;
}

const PAGE_ROWS = 500;

/**
 * The `audit_log` table: an append-only, hash-chained trail. Each row's hash covers the previous
 * row's hash and its own content (id and time included), so changing, inserting or deleting a
 * row in the middle breaks every later link, which `verify()` finds.
 */
export class AuditStore implements AuditTrail {
  readonly #db: Kysely<Database>;
  readonly #clock: () => Date;

  constructor(db: Kysely<Database>, clock: () => Date = () => new Date()) {
    this.#db = db;
    this.#clock = clock;
  }

  /**
   * One statement: it moves `audit_head` on and inserts the row after it (see audit-append-sql.ts),
   * so appends from every replica and worker follow each other and the chain never forks. With
   * `trx`, the head row stays locked until the caller's transaction ends, and a rolled-back state
   * change takes its entry with it.
   */
  async append(event: AuditEvent, trx?: Kysely<Database>): Promise<void> {
    const a = this.sqlFor(event);
    await sql`with audit_next as ${a.next(sql`true`)}, audit_row as ${a.row(sql`true`)} select id from audit_row`.execute(trx ?? this.#db);
  }

  sqlFor(event: AuditEvent): AuditAppendSql {
    return auditAppendSql(event, this.#clock());
  }

  /** When the first row was written, or undefined while the trail is empty. */
  async firstAt(): Promise<Date | undefined> {
    const row = await this.#db.selectFrom('audit_log').select('at').orderBy('id').limit(1).executeTakeFirst();
    return row ? new Date(row.at) : undefined;
  }

  /** Every change the trail names. */
  async changes(): Promise<Array<{ project: string; number: number }>> {
    const rows = await this.#db.selectFrom('audit_log').select(['project', 'change_number']).distinct().where('project', 'is not', null).where('change_number', 'is not', null).execute();
    return rows.map((r) => ({ project: r.project!, number: r.change_number! }));
  }

  /** The newest row's id and hash, or undefined while the trail is empty. */
  async head(): Promise<RecordedHead | undefined> {
    const row = await this.#db.selectFrom('audit_log').select(['id', 'hash']).orderBy('id', 'desc').limit(1).executeTakeFirst();
    return row ? { id: row.id, hash: row.hash } : undefined;
  }

  /**
   * Walks the chain from its first row in id order, a page at a time; stops at the first break.
   * With `recorded` (heads kept outside the database earlier: printed by `audit verify`, or
   * posted in review messages), each row must still be there with that hash: this finds a chain
   * rewritten up to it, or its newest rows deleted, which the links alone cannot show.
   */
  async verify(recorded: RecordedHead | readonly RecordedHead[] = []): Promise<AuditVerification> {
    const heads: readonly RecordedHead[] = Array.isArray(recorded) ? recorded : [recorded as RecordedHead];
    const byId = new Map<number, RecordedHead[]>();
    for (const h of heads) byId.set(h.id, [...(byId.get(h.id) ?? []), h]);
    const checker = new ChainChecker();
    for await (const entry of this.entries()) {
      const differs = byId.get(entry.id)?.find((h) => h.hash !== entry.hash);
      const broken = checker.check(entry) ?? (differs ? notAsRecorded(entry, differs) : undefined);
      if (broken) return { ok: false, rows: checker.count, broken };
    }
    const last = checker.head?.id ?? 0;
    const newest = heads.reduce<RecordedHead | undefined>((max, h) => (max === undefined || h.id > max.id ? h : max), undefined);
    if (newest && last < newest.id) {
      return { ok: false, rows: checker.count, broken: { id: last + 1, reason: 'row-missing', message: `missing: the trail ends at #${last}, but row #${newest.id} was recorded earlier${sourceOf(newest)} (the newest rows were deleted)` } };
    }
    return { ok: true, rows: checker.count, head: checker.head };
  }

  /**
   * Every entry after `after` in id order, read a page at a time (for export and verify).
   * Without `after`, every row there is, ids of 0 and below included: a row put before the
   * first must be seen, not skipped.
   */
  async *entries(after?: number): AsyncIterable<AuditEntry> {
    for (let last = after; ; ) {
      let query = this.#db.selectFrom('audit_log').selectAll().orderBy('id').limit(PAGE_ROWS);
      if (last !== undefined) query = query.where('id', '>', last);
      const rows = await query.execute();
      for (const row of rows) yield toEntry(row);
      if (rows.length < PAGE_ROWS) return;
      last = rows.at(-1)!.id;
    }
  }

  /** One page of entries, oldest first, optionally of one kind or one rollout. */
  async page(q: AuditPageQuery): Promise<AuditPage> {
    let query = this.#db.selectFrom('audit_log').selectAll().where('id', '>', q.after ?? 0).orderBy('id').limit(q.limit + 1);
    if (q.kind !== undefined) query = query.where('kind', '=', q.kind);
    if (q.rolloutId !== undefined) query = query.where('rollout_id', '=', q.rolloutId);
    const rows = await query.execute();
    const shown = rows.slice(0, q.limit);
    return { entries: shown.map(toEntry), next: rows.length > q.limit ? shown.at(-1)!.id : null };
  }
}

function notAsRecorded(e: AuditEntry, recorded: RecordedHead): ChainBreak {
  return { id: e.id, kind: e.kind, at: e.at, reason: 'not-as-recorded', message: `its hash is not the one recorded for it earlier${sourceOf(recorded)} (the chain was rewritten up to here)` };
}

function sourceOf(h: RecordedHead): string {
  return h.source ? ` ${h.source}` : '';
}

function toEntry(row: AuditLogRow): AuditEntry {
  return {
    id: row.id,
    at: new Date(row.at).toISOString(),
    kind: row.kind,
    actor: row.actor,
    rolloutId: row.rollout_id,
    project: row.project,
    changeNumber: row.change_number,
    summary: row.summary,
    data: row.data as JsonValue,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
