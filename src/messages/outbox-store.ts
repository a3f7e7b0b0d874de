import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import { leaseNextDue } from '../db/lease.js';
import type { Database, OutboxRow } from '../db/schema.js';
import { fitMessage } from './fit-message.js';

/** The votes a queued review carries (`outbox.labels`), read as what they must be: label → integer, or none. */
export const OutboxLabelsSchema = z.record(z.string().min(1), z.number().int()).nullable();

export interface NewReviewMessage {
  /** Unique per rollout and phase (`rollout:12:started`): enqueuing twice posts once. */
  readonly messageKey: string;
  readonly rolloutId: number | null;
  readonly project: string;
  readonly changeNumber: number;
  readonly revision: string;
  readonly tag: string;
  readonly message: string;
  /** Votes posted with the message. */
  readonly labels?: Readonly<Record<string, number>> | undefined;
}

/** The `outbox` table: review messages that must reach Gerrit, kept until Gerrit accepts them. */
export class OutboxStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Every message goes through here, so this is where it is fitted under Gerrit's size limit: one too big would be refused for good. */
  async enqueue(m: NewReviewMessage, trx: Kysely<Database> = this.#db): Promise<void> {
    await trx
      .insertInto('outbox')
      .values({
        message_key: m.messageKey,
        rollout_id: m.rolloutId,
        project: m.project,
        change_number: m.changeNumber,
        revision: m.revision,
        tag: m.tag,
        message: fitMessage(m.message),
        labels: m.labels ? JSON.stringify(m.labels) : null,
        status: 'pending',
      })
      .onConflict((oc) => oc.column('message_key').doNothing())
      .execute();
  }

  /** The messages queued under keys that start with `prefix`, oldest first, with their votes. */
  async withKeyPrefix(prefix: string): Promise<Array<{ readonly message_key: string; readonly labels: unknown }>> {
    const escaped = prefix.replace(/[\\%_]/g, (c) => `\\${c}`);
    return this.#db.selectFrom('outbox').select(['message_key', 'labels']).where('message_key', 'like', `${escaped}%`).orderBy('id').execute();
  }

  /** Runs `fn` in one transaction with a store bound to it: a message's fate and its audit row commit together. */
  async inTransaction<T>(fn: (tx: { readonly outbox: OutboxStore; readonly db: Kysely<Database> }) => Promise<T>): Promise<T> {
    return this.#db.transaction().execute((trx) => fn({ outbox: new OutboxStore(trx), db: trx }));
  }

  /** Takes the oldest due message and leases it for `leaseMs` so a crash mid-post retries it. */
  async claimDue(leaseMs: number): Promise<OutboxRow | undefined> {
    return leaseNextDue(this.#db, 'outbox', leaseMs);
  }

  async markSent(id: number): Promise<void> {
    await this.#db.updateTable('outbox').set({ status: 'sent', sent_at: sql`now()`, last_error: null }).where('id', '=', id).execute();
  }

  async retryLater(id: number, delayMs: number, error: string): Promise<void> {
    await this.#db
      .updateTable('outbox')
      .set({ last_error: error, next_attempt_at: sql`now() + ${`${delayMs} milliseconds`}::interval` })
      .where('id', '=', id)
      .execute();
  }

  /** Gerrit refused the message for good (e.g. 400, 403); it stays visible with the reason. */
  async markFailed(id: number, error: string): Promise<void> {
    await this.#db.updateTable('outbox').set({ status: 'failed', last_error: error }).where('id', '=', id).execute();
  }

  async forRollout(rolloutId: number): Promise<OutboxRow[]> {
    return this.#db.selectFrom('outbox').selectAll().where('rollout_id', '=', rolloutId).orderBy('id').execute();
  }
}
