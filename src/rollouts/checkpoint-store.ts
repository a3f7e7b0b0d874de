import { sql, type Kysely } from 'kysely';
import type { z } from 'zod';
import type { Database } from '../db/schema.js';

/** Named progress markers kept in the `checkpoints` table. */
export class CheckpointStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** The marker's value read as `schema` says it must be; undefined when there is none yet. One that is not is an error naming it. */
  async get<T>(name: string, schema: z.ZodType<T>): Promise<T | undefined> {
    const row = await this.#db.selectFrom('checkpoints').select('value').where('name', '=', name).executeTakeFirst();
    if (!row) return undefined;
    const read = schema.safeParse(row.value);
    if (!read.success) throw new Error(`checkpoint ${name}: ${read.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ')}`);
    return read.data;
  }

  async set(name: string, value: unknown): Promise<void> {
    const json = JSON.stringify(value);
    await this.#db
      .insertInto('checkpoints')
      .values({ name, value: json })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value: json, updated_at: sql`now()` }))
      .execute();
  }
}
