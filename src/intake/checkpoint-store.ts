import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** Named progress markers kept in the `checkpoints` table. */
export class CheckpointStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async get<T>(name: string): Promise<T | undefined> {
    const row = await this.#db.selectFrom('checkpoints').select('value').where('name', '=', name).executeTakeFirst();
    return row?.value as T | undefined;
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
