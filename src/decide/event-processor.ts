import { exponentialBackoff } from '../backoff.js';
import type { EventRow } from '../db/schema.js';
import { GerritError, NotMergedYetError } from '../errors.js';
import { ChangeMergedEventSchema, CommentAddedEventSchema, PatchsetCreatedEventSchema, type PatchsetCreatedEvent } from '../gerrit/gerrit-event.js';
import type { DecideDeps, Handled } from './decide-deps.js';
import { handleComment } from './handle-comment.js';
import { handleMerged } from './handle-merged.js';
import { updateReadiness } from './readiness.js';
import { checkPolicyChange } from './check-policy-change.js';

/** How long an event is leased while it is processed; after a crash it becomes due again. */
const LEASE_MS = 5 * 60_000;

/** How failed events are tried again. */
export interface EventRetry {
  /** The first retry's delay; each next one doubles, up to `maxMs`. */
  readonly baseMs: number;
  readonly maxMs: number;
  /** Tries of a change Gerrit does not show as merged before the event fails for good (about an hour by default). */
  readonly notMergedAttempts: number;
}

export const DEFAULT_EVENT_RETRY: EventRetry = { baseMs: 1000, maxMs: 5 * 60_000, notMergedAttempts: 20 };

/**
 * The decide stage's pump: takes stored events in order and hands each to its handler. A handler
 * that fails in a way that may pass leaves the event pending with backoff. Gerrit unreachable,
 * 5xx, 429 or the database failing are retried for as long as they last, because giving up
 * would miss a merge (the back-fill would find it already stored); only a change Gerrit keeps
 * showing as not merged, or an error retrying cannot fix, fails the event for good, with the reason.
 */
export class EventProcessor {
  readonly #d: DecideDeps;
  readonly #retry: EventRetry;

  constructor(deps: DecideDeps, retry: EventRetry = DEFAULT_EVENT_RETRY) {
    this.#d = deps;
    this.#retry = retry;
  }

  /** Processes one due event; returns false when there was none. */
  async processNext(): Promise<boolean> {
    const row = await this.#d.events.claimDue(LEASE_MS);
    if (!row) return false;
    const log = this.#d.logger.child({ eventId: row.id, type: row.type });
    try {
      const outcome = await this.#handle(row);
      await this.#d.events.finish(row.id, outcome.status, outcome.reason);
      log.info({ status: outcome.status, reason: outcome.reason }, 'event processed');
    } catch (err) {
      const retryable = err instanceof NotMergedYetError ? row.attempts < this.#retry.notMergedAttempts : !(err instanceof GerritError) || err.retryable;
      const message = (err as Error).message;
      if (retryable) {
        // a 429/503 with Retry-After is not asked again sooner than Gerrit said
        const retryAfter = err instanceof GerritError ? (err.retryAfterMs ?? 0) : 0;
        const backoff = exponentialBackoff(row.attempts - 1, { baseMs: this.#retry.baseMs, maxMs: this.#retry.maxMs, jitter: 'none' });
        const delay = Math.max(backoff, retryAfter);
        // past the point where a lagging index explains it, say so loudly on every try
        const level = row.attempts >= this.#retry.notMergedAttempts ? 'error' : 'warn';
        log[level]({ err, attempt: row.attempts, retryInMs: delay }, 'event processing failed; will retry');
        await this.#d.events.retryLater(row.id, delay, message);
      } else {
        log.error({ err, attempt: row.attempts }, 'event processing failed for good');
        await this.#d.events.finish(row.id, 'failed', message);
      }
    }
    return true;
  }

  /**
   * A new patch set: a change to the policy project is checked, and readiness is decided afresh
   * (a new patch set resets the votes), each where rollgate is set up to.
   */
  async #newPatchSet(event: PatchsetCreatedEvent): Promise<Handled> {
    const { project, branch, number } = event.change;
    const checks = this.#d.policyChecks;
    const checked = checks !== undefined && checks.repo.project === project && checks.repo.branch === branch;
    const label = this.#d.readinessLabel;
    if (!checked && label === undefined) return { status: 'ignored', reason: 'no policy check or readiness for this change' };
    // one REST read for both: the event only names the change
    const change = await this.#d.gerrit.getChange(project, number);
    const outcomes: string[] = [];
    if (checked) outcomes.push(await checkPolicyChange(this.#d, checks, change));
    const readiness = label === undefined ? undefined : await updateReadiness(this.#d, label, change);
    if (readiness !== undefined) outcomes.push(readiness);
    return outcomes.length === 0 ? { status: 'ignored', reason: 'no policy check or readiness for this change' } : { status: 'processed', reason: outcomes.join('; ') };
  }

  #handle(row: EventRow): Promise<Handled> {
    switch (row.type) {
      case 'change-merged':
        return handleMerged(this.#d, ChangeMergedEventSchema.parse(JSON.parse(row.raw)));
      case 'comment-added':
        return handleComment(this.#d, CommentAddedEventSchema.parse(JSON.parse(row.raw)), row.id, row.source);
      case 'patchset-created':
        return this.#newPatchSet(PatchsetCreatedEventSchema.parse(JSON.parse(row.raw)));
      case 'dropped-output':
        // Gerrit's queue for this session overflowed and it does not say what was lost
        this.#d.onGap('gerrit dropped stream events');
        return Promise.resolve({ status: 'processed', reason: 'back-fill started' });
      default:
        return Promise.resolve({ status: 'ignored', reason: `${row.type} events are not acted on` });
    }
  }
}
