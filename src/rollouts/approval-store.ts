import type { CommentApproval } from '../policy/decide.js';
import type { RoleGrant } from '../policy/roles.js';
import type { Kysely } from 'kysely';
import type { ApprovalRow, Database } from '../db/schema.js';

/** The `approvals` table: approvals given after the merge, per rollout. */
export class ApprovalStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async add(a: { rolloutId: number; accountId: number; username: string | undefined; justification: string; source: 'comment' | 'api'; eventId: number | null; idpGrants?: readonly RoleGrant[] }, trx: Kysely<Database> = this.#db): Promise<ApprovalRow> {
    return trx
      .insertInto('approvals')
      .values({ rollout_id: a.rolloutId, account_id: a.accountId, username: a.username ?? null, justification: a.justification, source: a.source, event_id: a.eventId, idp_grants: JSON.stringify(a.idpGrants ?? []) })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async forRollout(rolloutId: number): Promise<ApprovalRow[]> {
    return this.#db.selectFrom('approvals').selectAll().where('rollout_id', '=', rolloutId).orderBy('id').execute();
  }
}

/** A stored approval as the decision counts it. */
export function asCommentApproval(row: ApprovalRow): CommentApproval {
  return { account: { accountId: row.account_id, username: row.username ?? undefined }, justification: row.justification, source: row.source, givenAt: row.created_at };
}
