import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, OperatorSessionRow } from '../db/schema.js';

/** The `operator_sessions` table. Ids are 256 random bits; only their sha256 is stored. */
export class SessionStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Starts a session; returns the id for the cookie (not kept anywhere else). */
  async create(s: { login: string; accountId: number; username: string | undefined; idpGroups: readonly string[]; ttlMs: number }): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    await this.#db
      .insertInto('operator_sessions')
      .values({ id_hash: hashOf(id), login: s.login, account_id: s.accountId, username: s.username ?? null, idp_groups: JSON.stringify(s.idpGroups), expires_at: new Date(Date.now() + s.ttlMs) })
      .execute();
    return id;
  }

  /** The live session with this id, or undefined (unknown, logged out or expired). */
  async find(id: string): Promise<OperatorSessionRow | undefined> {
    return this.#db.selectFrom('operator_sessions').selectAll().where('id_hash', '=', hashOf(id)).where('expires_at', '>', new Date()).executeTakeFirst();
  }

  async revoke(id: string): Promise<void> {
    await this.#db.deleteFrom('operator_sessions').where('id_hash', '=', hashOf(id)).execute();
  }

  /** Deletes expired sessions; returns how many. */
  async purgeExpired(): Promise<number> {
    const result = await this.#db.deleteFrom('operator_sessions').where('expires_at', '<=', new Date()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function hashOf(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}
