import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database, RolloutRow } from '../db/schema.js';
import type { Reason } from '../policy/decide.js';
import {
  denyMessage,
  expiredMessage,
  finishedMessage,
  gateMessage,
  holdMessage,
  policyCheckMessage,
  policyCheckPassed,
  readinessMessage,
  REVIEW_TAG,
  startedMessage,
  startRefusedMessage,
  gateAgainMessage,
  windowWaitMessage,
  supersededMessage,
  type PolicyCheckReport,
  type ReadinessVerdict,
  type RolloutEnd,
  type RolloutSummary,
  type StepSummary,
} from './format-message.js';
import { OutboxLabelsSchema, type NewReviewMessage, type OutboxStore } from './outbox-store.js';
import { rolloutSummary } from './rollout-summary.js';

/**
 * Every message rollgate posts on a change is composed and queued here: its words
 * (format-message.ts), its outbox key (which makes a repeat post nothing), rollgate's review tag
 * and the rollout's link. Callers say what happened; the reporter posts what is queued. A
 * message given `trx` is queued in the caller's transaction, so it exists exactly when what it
 * reports does; the caller wakes the reporter after the commit.
 */
export class ChangeMessages {
  readonly #outbox: OutboxStore;
  readonly #publicUrl: string | undefined;

  constructor(outbox: OutboxStore, publicUrl: string | undefined) {
    this.#outbox = outbox;
    this.#publicUrl = publicUrl;
  }

  /** A rollout as the messages quote it, with its link on rollgate when the public URL is set. */
  summary(rollout: RolloutRow): RolloutSummary {
    return rolloutSummary(rollout, this.#publicUrl);
  }

  /**
   * Why a decided rollout does not run (held: what is missing; denied: why not). `decidedBy`
   * tells apart the decisions made again later (an approval, a replayed line) from the merge's.
   */
  async whyNot(rollout: RolloutRow, outcome: 'hold' | 'deny', decidedBy: string | undefined, trx: Kysely<Database>): Promise<void> {
    const summary = this.summary(rollout);
    const key = `rollout:${rollout.id}:${outcome}${decidedBy === undefined ? '' : `:${decidedBy}`}`;
    await this.#aboutRollout(rollout, key, outcome === 'hold' ? holdMessage(summary) : denyMessage(summary), trx);
  }

  /** The check at the start sent a queued rollout back (held or denied); `at` tells each such check apart. */
  async startRefused(rollout: RolloutRow, outcome: 'hold' | 'deny', changed: readonly string[], at: Date, trx: Kysely<Database>): Promise<void> {
    await this.#aboutRollout(rollout, `rollout:${rollout.id}:start-refused:${at.toISOString()}`, startRefusedMessage(this.summary(rollout), outcome, changed), trx);
  }

  /** A held rollout nobody approved in time. */
  async expired(rollout: RolloutRow, reason: Reason, trx: Kysely<Database>): Promise<void> {
    await this.#aboutRollout(rollout, `rollout:${rollout.id}:expired`, expiredMessage(rolloutSummary({ ...rollout, reasons: [reason] }, this.#publicUrl)), trx);
  }

  /** The start of a run as SQL to fold into the statement that fixes its deadline (see OutboxStore.insertSql). */
  startedSql(rollout: RolloutRow, stepIds: readonly string[]): RawBuilder<object> {
    return this.#outbox.insertSql(this.#aboutRolloutMessage(rollout, phaseKey(rollout, 'started'), startedMessage(this.summary(rollout), stepIds)), sql`true`);
  }

  async atGate(rollout: RolloutRow, stepId: string, roles: readonly string[], deadline: Date): Promise<void> {
    await this.#aboutRollout(rollout, phaseKey(rollout, `gate:${stepId}`), gateMessage(this.summary(rollout), stepId, roles, deadline));
  }

  /** A passed gate opened again because its approval grew older than `max_age`; keyed by the new deadline, so each reopening says so once. */
  async gateAgain(rollout: RolloutRow, stepId: string, roles: readonly string[], maxAge: string, deadline: Date): Promise<void> {
    await this.#aboutRollout(rollout, phaseKey(rollout, `gate:${stepId}:again:${deadline.toISOString()}`), gateAgainMessage(this.summary(rollout), stepId, roles, maxAge, deadline));
  }

  /** A closed window holds back a step after a gate or a wait (`windows_apply: every_step`); once per run and step. */
  async waitingForWindow(rollout: RolloutRow, stepId: string, reason: string): Promise<void> {
    await this.#aboutRollout(rollout, phaseKey(rollout, `window:${stepId}`), windowWaitMessage(this.summary(rollout), stepId, reason));
  }

  /** The end of a rollout as SQL to fold into the statement that ends it (see OutboxStore.insertSql): it is queued exactly when the end commits. */
  finishedSql(rollout: RolloutRow, succeeded: boolean, totalMs: number, steps: readonly StepSummary[], end: RolloutEnd, when: RawBuilder<unknown>): RawBuilder<object> {
    return this.#outbox.insertSql(this.#aboutRolloutMessage(rollout, phaseKey(rollout, 'finished'), finishedMessage(this.summary(rollout), succeeded, totalMs, steps, end)), when);
  }

  async superseded(rollout: RolloutRow, byRolloutId: number): Promise<void> {
    await this.#aboutRollout(rollout, phaseKey(rollout, 'superseded'), supersededMessage(this.summary(rollout), byRolloutId));
  }

  /** Someone acted on the rollout through rollgate (API or web page): the change says who did what, since nobody commented there. */
  async announce(rollout: RolloutRow, actionKey: string, text: string): Promise<void> {
    await this.#aboutRollout(rollout, `${actionKey}:announce`, text);
  }

  /**
   * rollgate's readiness vote on an open change's current patch set, with its message. Queued only
   * when it differs from the last one queued for that patch set (the first always is), so votes
   * and comments that change nothing post nothing. Returns whether it was queued.
   */
  async readiness(change: { readonly project: string; readonly number: number; readonly currentRevision: string }, label: string, value: number, verdicts: readonly ReadinessVerdict[]): Promise<boolean> {
    const prefix = `readiness:${change.project}~${change.number}:${change.currentRevision}:`;
    const earlier = await this.#outbox.withKeyPrefix(prefix);
    const last = earlier.at(-1);
    if (last && OutboxLabelsSchema.parse(last.labels)?.[label] === value) return false;
    await this.#outbox.enqueue({
      messageKey: `${prefix}${earlier.length + 1}`,
      rolloutId: null,
      project: change.project,
      changeNumber: change.number,
      revision: change.currentRevision,
      tag: REVIEW_TAG,
      message: readinessMessage(label, value, verdicts),
      labels: { [label]: value },
    });
    return true;
  }

  /** What became of a merged policy change: in use, or refused with its problems. Once per change and commit. */
  async policyOutcome(change: { readonly project: string; readonly number: number; readonly revision: string }, version: string, text: string): Promise<void> {
    await this.#outbox.enqueue({ messageKey: `policy:${change.project}~${change.number}:${version}`, rolloutId: null, project: change.project, changeNumber: change.number, revision: change.revision, tag: REVIEW_TAG, message: text });
  }

  /** What the check of an open policy change found, on its patch set (with a vote on `label`, +1 passed or -1, where one is set); once per patch set. */
  async policyCheck(change: { readonly project: string; readonly number: number }, revision: string, report: PolicyCheckReport, label: string | undefined): Promise<void> {
    await this.#outbox.enqueue({
      messageKey: `policy-check:${change.project}~${change.number}:${revision}`,
      rolloutId: null,
      project: change.project,
      changeNumber: change.number,
      revision,
      tag: REVIEW_TAG,
      message: policyCheckMessage(report),
      labels: label === undefined ? undefined : { [label]: policyCheckPassed(report) ? 1 : -1 },
    });
  }

  /** The one reply to a comment's commands, on the revision REST names; keyed by the comment's event. */
  async reply(change: { readonly project: string; readonly number: number }, revision: string, eventId: number, text: string): Promise<void> {
    await this.#outbox.enqueue({ messageKey: `event:${eventId}:reply`, rolloutId: null, project: change.project, changeNumber: change.number, revision, tag: REVIEW_TAG, message: text });
  }

  /** On the rollout's merged revision, tied to the rollout. */
  async #aboutRollout(rollout: RolloutRow, messageKey: string, message: string, trx?: Kysely<Database>): Promise<void> {
    await this.#outbox.enqueue(this.#aboutRolloutMessage(rollout, messageKey, message), trx);
  }

  #aboutRolloutMessage(rollout: RolloutRow, messageKey: string, message: string): NewReviewMessage {
    return { messageKey, rolloutId: rollout.id, project: rollout.project, changeNumber: rollout.change_number, revision: rollout.revision, tag: REVIEW_TAG, message };
  }
}

/**
 * The key of a message about a rollout's run: one per rollout, run and phase, so a resumed or
 * retried rollout never posts the same message twice.
 */
function phaseKey(rollout: Pick<RolloutRow, 'id' | 'run'>, phase: string): string {
  return `rollout:${rollout.id}${rollout.run > 1 ? `:run${rollout.run}` : ''}:${phase}`;
}
