import { sql, type Kysely } from 'kysely';
import type { Database, StepOutputRow } from '../db/schema.js';

/** One attempt of one step of a rollout: whose output a chunk is. */
export interface AttemptKey {
  readonly rolloutId: number;
  readonly stepId: string;
  readonly number: number;
}

/** A chunk as the page and the stream show it. */
export type OutputChunk = Pick<StepOutputRow, 'id' | 'step_id' | 'number' | 'offset' | 'text'>;

/**
 * Step output as it was stored while the step ran: appended in chunks by the worker running the
 * attempt (the only writer of that attempt's output), read by the page and its live stream.
 */
export class StepOutputStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Stores the next chunk of an attempt's output; its id. */
  async append(key: AttemptKey, offset: number, text: string): Promise<number> {
    const row = await this.#db
      .insertInto('step_output')
      .values({ rollout_id: key.rolloutId, step_id: key.stepId, number: key.number, offset, text })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  /** Deletes an attempt's chunks older than `id` (the bound on what is kept per attempt). */
  async dropBefore(key: AttemptKey, id: number): Promise<void> {
    await this.#db.deleteFrom('step_output').where('rollout_id', '=', key.rolloutId).where('step_id', '=', key.stepId).where('number', '=', key.number).where('id', '<', id).execute();
  }

  /** A rollout's chunks after `afterId`, oldest first, at most `limit` (the live stream). */
  async since(rolloutId: number, afterId: number, limit: number): Promise<OutputChunk[]> {
    return this.#db
      .selectFrom('step_output')
      .select(['id', 'step_id', 'number', 'offset', 'text'])
      .where('rollout_id', '=', rolloutId)
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /**
   * The last `maxBytes` (about: whole chunks) of every attempt's stored output, oldest chunk
   * first, and the id of the rollout's newest chunk (where a live stream picks up; 0 for none).
   */
  async tails(rolloutId: number, maxBytes: number): Promise<{ readonly chunks: OutputChunk[]; readonly lastId: number }> {
    // the newest id first: a chunk stored meanwhile comes by the stream, not twice
    const last = await this.#db.selectFrom('step_output').select((eb) => eb.fn.max('id').as('id')).where('rollout_id', '=', rolloutId).executeTakeFirst();
    const lastId = Number(last?.id ?? 0);
    const chunks = await this.#db
      .selectFrom((db) =>
        db
          .selectFrom('step_output')
          .select(['id', 'step_id', 'number', 'offset', 'text'])
          .select(sql<number>`sum(octet_length(text)) over (partition by step_id, number order by id desc)`.as('from_end'))
          .where('rollout_id', '=', rolloutId)
          .where('id', '<=', lastId)
          .as('o'),
      )
      .select(['id', 'step_id', 'number', 'offset', 'text'])
      // the newest chunk always, then older ones while they fit
      .where(sql<boolean>`from_end - octet_length(text) < ${maxBytes}`)
      .orderBy('id')
      .execute();
    return { chunks, lastId };
  }

  /** The whole stored output of one attempt, in order. */
  async attempt(key: AttemptKey): Promise<OutputChunk[]> {
    return this.#db
      .selectFrom('step_output')
      .select(['id', 'step_id', 'number', 'offset', 'text'])
      .where('rollout_id', '=', key.rolloutId)
      .where('step_id', '=', key.stepId)
      .where('number', '=', key.number)
      .orderBy('id')
      .execute();
  }
}
