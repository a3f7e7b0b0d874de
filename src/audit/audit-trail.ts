import type { Kysely } from 'kysely';
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
  /** The newest row's id and hash (what review messages carry), or undefined while empty. */
  head(): Promise<RecordedHead | undefined>;
}
