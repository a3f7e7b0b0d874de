import type { Kysely } from 'kysely';
import type { Database, RolloutRow, RolloutStatus, StepRow } from '../db/schema.js';

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

  async list(filter: { status?: RolloutStatus; project?: string; changeNumber?: number; limit?: number } = {}): Promise<RolloutRow[]> {
    let q = this.#db.selectFrom('rollouts').selectAll().orderBy('id', 'desc').limit(filter.limit ?? 50);
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.project) q = q.where('project', '=', filter.project);
    if (filter.changeNumber !== undefined) q = q.where('change_number', '=', filter.changeNumber);
    return q.execute();
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
