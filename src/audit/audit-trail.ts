import type { Kysely, RawBuilder } from 'kysely';
import type { Database } from '../db/schema.js';
import type { RecordedHead } from './audit-chain.js';

/** What happened, one word each; auditors filter on it. */
export const AUDIT_KINDS = ['decision', 'approval', 'command', 'api-action', 'step-started', 'step-finished', 'report-posted', 'report-failed'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

/** One thing that happened, as appended to the audit trail. */
export interface AuditEvent {
  readonly kind: AuditKind;
  /** Who did it: a Gerrit username, an operator's login, or `rollgate` for the service itself. */
  readonly actor: string;
  readonly rolloutId?: number | null;
  readonly project?: string | null;
  readonly changeNumber?: number | null;
  /** One line for people, e.g. "approved via rollgate by alice (sre): hotfix". */
  readonly summary: string;
  /** The facts, as JSON. Never secrets: step outputs are redacted before they get here. */
  readonly data: Readonly<Record<string, unknown>>;
}

/**
 * The append-only, hash-chained audit trail. `trx` lets a caller append in the same transaction
 * as the state change it records, so the trail never says something happened that did not.
 */
export interface AuditTrail {
  append(event: AuditEvent, trx?: Kysely<Database>): Promise<void>;
  /** The entry as SQL a caller folds into the statement that makes the change it records (one round trip, one commit). */
  sqlFor(event: AuditEvent): AuditAppendSql;
  /** The newest row's id and hash (what review messages carry), or undefined while empty. */
  head(): Promise<RecordedHead | undefined>;
}

/**
 * An audit entry as two common table expressions, so that a statement can append it together with
 * the state change it records: one statement, one round trip, committed or rolled back as one.
 * `next` moves `audit_head` on (its row lock serialises appenders; the statement waiting for it
 * reads the row as the appender before it left it) and `row` inserts the entry it describes.
 * Each is parenthesised, as a CTE's body is; name them `audit_next` and `audit_row`, in that order.
 */
export interface AuditAppendSql {
  /** `audit_next`: only when `when` holds, e.g. sql`exists (select 1 from s)`. */
  next(when: RawBuilder<unknown>): RawBuilder<object>;
  /**
   * `audit_row`, under the same `when`. Without a head row it inserts nulls and the whole statement
   * fails: a state change never commits without its entry.
   */
  row(when: RawBuilder<unknown>): RawBuilder<object>;
}
