import { sql, type Kysely, type RawBuilder } from 'kysely';
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

  /** Every message goes through here (or `insertSql`), so this is where it is fitted under Gerrit's size limit: one too big would be refused for good. */
  async enqueue(m: NewReviewMessage, trx: Kysely<Database> = this.#db): Promise<void> {
    await sql`with o as ${this.insertSql(m, sql`true`)} select 1`.execute(trx);
  }

  /**
   * The message's insert as a common table expression (parenthesised), only when `when` holds: for
   * a caller that queues it in the statement that makes what it reports, e.g. a rollout's end.
   * A message already queued under its key stays as it is.
   */
  insertSql(m: NewReviewMessage, when: RawBuilder<unknown>): RawBuilder<object> {
    return sql<object>`(insert into outbox (message_key, rollout_id, project, change_number, revision, tag, message, labels, status)
      select ${m.messageKey}::text, ${m.rolloutId}::bigint, ${m.project}::text, ${m.changeNumber}::integer, ${m.revision}::text, ${m.tag}::text, ${fitMessage(m.message)}::text,
        ${m.labels ? JSON.stringify(m.labels) : null}::jsonb, 'pending'
      where ${when}
      on conflict (message_key) do nothing
      returning id)`;
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
