import { GerritError } from '../errors.js';
import type { GerritClient } from '../gerrit/gerrit-client.js';
import type { Logger } from '../log.js';
import type { OutboxStore } from './outbox-store.js';

export interface ReporterDeps {
  readonly outbox: OutboxStore;
  readonly gerrit: GerritClient;
  readonly logger: Logger;
  /** Longest wait between retries while Gerrit is down. */
  readonly maxBackoffMs?: number;
}

const LEASE_MS = 2 * 60_000;

/**
 * The report stage: posts queued review messages on their merged revision. A Gerrit outage
 * only delays a message (retried with backoff, kept in the database across restarts); a
 * refusal Gerrit will repeat (400, 403, 404, 409) marks it failed with the reason.
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
      await this.#d.gerrit.postReview(row.project, row.change_number, row.revision, { message: row.message, tag: row.tag, notify: 'OWNER' });
      await this.#d.outbox.markSent(row.id);
      log.info('review message posted');
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof GerritError && !err.retryable) {
        log.error({ err }, 'Gerrit refused the review message');
        await this.#d.outbox.markFailed(row.id, message);
      } else {
        const delay = Math.min(1000 * 2 ** (row.attempts - 1), this.#d.maxBackoffMs ?? 5 * 60_000);
        log.warn({ err, attempt: row.attempts, retryInMs: delay }, 'posting the review message failed; will retry');
        await this.#d.outbox.retryLater(row.id, delay, message);
      }
    }
    return true;
  }
}
