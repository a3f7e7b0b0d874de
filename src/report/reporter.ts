import type { RecordedHead } from '../audit/audit-chain.js';
import { withAuditHead } from '../audit/audit-head-line.js';
import type { AuditEvent, AuditTrail } from '../audit/audit-trail.js';
import { exponentialBackoff } from '../backoff.js';
import type { OutboxRow } from '../db/schema.js';
import { GerritError } from '../errors.js';
import type { GerritClient } from '../gerrit/gerrit-client.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { OutboxLabelsSchema, type OutboxStore } from '../messages/outbox-store.js';

export interface ReporterDeps {
  readonly outbox: OutboxStore;
  readonly gerrit: GerritClient;
  readonly logger: Logger;
  /** Longest wait between retries while Gerrit is down. */
  readonly maxBackoffMs?: number;
  /** Counts messages sent, retries and refusals. */
  readonly metrics?: Metrics;
  /** Appends each message posted, and each Gerrit refused for good, to the audit trail. */
  readonly audit?: AuditTrail;
}

const LEASE_MS = 2 * 60_000;

/**
 * The report stage: posts queued review messages on their merged revision. A Gerrit outage
 * only delays a message (retried with backoff, kept in the database across restarts); a
 * refusal Gerrit will repeat (400, 403, 404, 409) marks it failed with the reason. A 429 or 503
 * with `Retry-After` waits at least that long. Messages for one change go out in the order they
 * were queued: the outbox does not hand out a later one while an earlier one is pending.
 * Each message goes out with the audit trail's head at that moment as its last line
 * (`rollgate-audit: ID:HASH`): Gerrit keeps it where rollgate's database user cannot rewrite it,
 * for `rollgate audit verify --from-gerrit`.
 */
export class Reporter {
  readonly #d: ReporterDeps;

  constructor(deps: ReporterDeps) {
    this.#d = deps;
  }

  async sendNext(): Promise<boolean> {
    const row = await this.#d.outbox.claimDue(LEASE_MS);
    if (!row) return false;
    const log = this.#d.logger.child({ outboxId: row.id, change: row.change_number, key: row.message_key });
    try {
      // the trail's head as it is now, kept by Gerrit where rollgate cannot rewrite it
      const head = await this.#d.audit?.head();
      await this.#d.gerrit.postReview(row.project, row.change_number, row.revision, { message: withAuditHead(row.message, head), tag: row.tag, notify: 'OWNER', ...votesOf(row) });
      await this.#settle(
        (outbox) => outbox.markSent(row.id),
        reportEvent(row, 'report-posted', `review message ${row.message_key} posted on ${row.project}~${row.change_number}`, { accepted: true }, head),
      );
      this.#d.metrics?.outboxSent.inc();
      log.info('review message posted');
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof GerritError && !err.retryable) {
        log.error({ err }, 'Gerrit refused the review message');
        await this.#settle(
          (outbox) => outbox.markFailed(row.id, message),
          reportEvent(row, 'report-failed', `review message ${row.message_key} refused by Gerrit for ${row.project}~${row.change_number}: ${message}`, { accepted: false, httpStatus: err.httpStatus ?? null, error: message }),
        );
        this.#d.metrics?.outboxFailures.inc({ status: String(err.httpStatus ?? 'none') });
      } else {
        const backoff = exponentialBackoff(row.attempts - 1, { baseMs: 1000, maxMs: this.#d.maxBackoffMs ?? 5 * 60_000, jitter: 'none' });
        // Gerrit (or a proxy in front of it) said how long to stay away: at least that long
        const retryAfter = err instanceof GerritError ? (err.retryAfterMs ?? 0) : 0;
        const delay = Math.max(backoff, retryAfter);
        this.#d.metrics?.outboxRetries.inc({ status: err instanceof GerritError && err.httpStatus !== undefined ? String(err.httpStatus) : 'network' });
        log.warn({ err, attempt: row.attempts, retryInMs: delay }, 'posting the review message failed; will retry');
        await this.#d.outbox.retryLater(row.id, delay, message);
      }
    }
    return true;
  }

  /** Records a message's fate, with its audit row in the same transaction when there is a trail. */
  async #settle(change: (outbox: OutboxStore) => Promise<void>, event: AuditEvent): Promise<void> {
    const audit = this.#d.audit;
    if (!audit) return change(this.#d.outbox);
    await this.#d.outbox.inTransaction(async (tx) => {
      await change(tx.outbox);
      await audit.append(event, tx.db);
    });
  }
}

/** What happened to a review message, with Gerrit's answer; never the credentials it was posted with. */
function reportEvent(row: OutboxRow, kind: 'report-posted' | 'report-failed', summary: string, gerrit: Readonly<Record<string, unknown>>, auditHead?: RecordedHead): AuditEvent {
  return {
    kind,
    actor: 'rollgate',
    rolloutId: row.rollout_id,
    project: row.project,
    changeNumber: row.change_number,
    summary,
    data: { outboxId: row.id, messageKey: row.message_key, revision: row.revision, tag: row.tag, attempts: row.attempts, gerrit, ...(auditHead ? { auditHead: `${auditHead.id}:${auditHead.hash}` } : {}) },
  };
}

function votesOf(row: OutboxRow): { labels?: Record<string, number> } {
  const labels = OutboxLabelsSchema.parse(row.labels);
  return labels ? { labels } : {};
}
