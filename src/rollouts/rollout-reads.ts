import { sql, type Kysely } from 'kysely';
import type { Database, RolloutRow, RolloutStatus, StepAttemptRow, StepRow } from '../db/schema.js';

/** What `RolloutReads.list` filters on; every field optional. */
export interface RolloutListFilter {
  readonly status?: RolloutStatus | undefined;
  readonly project?: string | undefined;
  readonly changeNumber?: number | undefined;
  readonly environment?: string | undefined;
  readonly rule?: string | undefined;
  /** The change owner's Gerrit username, email, full name or account id. */
  readonly owner?: string | undefined;
  /** Only rollouts with a smaller id (the next, older page). */
  readonly before?: number | undefined;
  /** Only rollouts with a larger id (the previous, newer page). */
  readonly after?: number | undefined;
  readonly limit?: number | undefined;
}

/**
 * Reads of rollouts and their steps that change nothing: one rollout, its steps, a filtered list
 * (the API, the web page, comment commands), and what a rule last deployed (a workflow's previous revision).
 */
export class RolloutReads {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async get(id: number): Promise<RolloutRow | undefined> {
    return this.#db.selectFrom('rollouts').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async steps(rolloutId: number): Promise<StepRow[]> {
    return this.#db.selectFrom('rollout_steps').selectAll().where('rollout_id', '=', rolloutId).orderBy('position').execute();
  }

  /** Every attempt of every step of a rollout, each step's in order. */
  async attempts(rolloutId: number): Promise<StepAttemptRow[]> {
    return this.#db.selectFrom('step_attempts').selectAll().where('rollout_id', '=', rolloutId).orderBy('step_id').orderBy('number').execute();
  }

  /**
   * Rollouts newest first, filtered. `before`/`after` page by id (keyset): `before` gives the
   * page of older rollouts below that id, `after` the page of newer ones above it, still newest first.
   */
  async list(filter: RolloutListFilter = {}): Promise<RolloutRow[]> {
    const newerPage = filter.after !== undefined;
    let q = this.#db
      .selectFrom('rollouts')
      .selectAll()
      .orderBy('id', newerPage ? 'asc' : 'desc')
      .limit(filter.limit ?? 50);
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.project) q = q.where('project', '=', filter.project);
    if (filter.changeNumber !== undefined) q = q.where('change_number', '=', filter.changeNumber);
    if (filter.environment) q = q.where('environment', '=', filter.environment);
    if (filter.rule) q = q.where('rule', '=', filter.rule);
    if (filter.before !== undefined) q = q.where('id', '<', filter.before);
    if (filter.after !== undefined) q = q.where('id', '>', filter.after);
    if (filter.owner) {
      const owner = filter.owner;
      // the owner is not a column of rollouts: the decisions recorded it (inputs.owner, a Gerrit
      // account); containment (@>) is what the decisions_owner index answers
      const matches = [{ username: owner }, { email: owner }, { name: owner }, ...(/^\d+$/.test(owner) ? [{ accountId: Number(owner) }] : [])];
      q = q.where('id', 'in', (eb) =>
        eb
          .selectFrom('decisions')
          .select('rollout_id')
          .where('rollout_id', 'is not', null)
          .where(sql<boolean>`(${sql.join(matches.map((m) => sql`inputs -> 'owner' @> ${JSON.stringify(m)}::jsonb`), sql` or `)})`),
      );
    }
    const rows = await q.execute();
    return newerPage ? rows.reverse() : rows;
  }

  /** The revision the last successful rollout of this rule and environment deployed before this one. */
  async previousRev(r: RolloutRow): Promise<string | undefined> {
    const row = await this.#db
      .selectFrom('rollouts')
      .select(['new_rev', 'revision'])
      .where('rule', '=', r.rule)
      .where('environment', '=', r.environment)
      .where('status', '=', 'succeeded')
      .where('id', '<', r.id)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? (row.new_rev ?? row.revision) : undefined;
  }
}
