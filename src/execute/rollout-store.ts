import { sql, type Kysely } from 'kysely';
import type { Database, RolloutRow, RolloutStatus, StepRow, StepStatus } from '../db/schema.js';
import type { Approver, Reason } from '../decide/decide.js';

export interface NewRollout {
  readonly rolloutKey: string;
  readonly rule: string;
  readonly workflow: string;
  readonly environment: string;
  readonly project: string;
  readonly branch: string;
  readonly changeNumber: number;
  readonly patchset: number;
  readonly revision: string;
  readonly newRev: string | undefined;
  readonly subject: string;
  readonly decision: 'allow' | 'hold' | 'deny';
  readonly reasons: readonly Reason[];
  readonly approvers: readonly Approver[];
  readonly justification: string | undefined;
  /** Step ids of the workflow, recorded up front so a rollout's plan is visible before it runs. */
  readonly stepIds: readonly string[];
}

export interface StepUpdate {
  readonly status: StepStatus;
  readonly attempts?: number;
  readonly exitCode?: number | null;
  readonly startedAt?: Date;
  readonly finishedAt?: Date;
  readonly durationMs?: number;
  readonly outputTail?: string | null;
  readonly error?: string | null;
}

const statusForDecision = { allow: 'queued', hold: 'held', deny: 'denied' } as const satisfies Record<string, RolloutStatus>;

/** The `rollouts` and `rollout_steps` tables. */
export class RolloutStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * Records a decided rollout with its planned steps, once per rollout key. Returns the new row,
   * or undefined when this merged revision already has one (a repeated event is a no-op).
   */
  async create(r: NewRollout, trx: Kysely<Database> = this.#db): Promise<RolloutRow | undefined> {
    const row = await trx
      .insertInto('rollouts')
      .values({
        rollout_key: r.rolloutKey,
        rule: r.rule,
        workflow: r.workflow,
        environment: r.environment,
        project: r.project,
        branch: r.branch,
        change_number: r.changeNumber,
        patchset: r.patchset,
        revision: r.revision,
        new_rev: r.newRev ?? null,
        subject: r.subject,
        decision: r.decision,
        status: statusForDecision[r.decision],
        reasons: JSON.stringify(r.reasons),
        approvers: JSON.stringify(r.approvers),
        justification: r.justification ?? null,
      })
      .onConflict((oc) => oc.column('rollout_key').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (row && r.stepIds.length > 0) {
      await trx
        .insertInto('rollout_steps')
        .values(r.stepIds.map((stepId, position) => ({ rollout_id: row.id, step_id: stepId, position, status: 'pending' as const, attempts: 0 })))
        .execute();
    }
    return row;
  }

  /** Rollouts of a change that wait for an approval. */
  async heldForChange(project: string, changeNumber: number): Promise<RolloutRow[]> {
    return this.#db
      .selectFrom('rollouts')
      .selectAll()
      .where('project', '=', project)
      .where('change_number', '=', changeNumber)
      .where('status', '=', 'held')
      .orderBy('id')
      .execute();
  }

  /**
   * Replaces a held rollout's decision after a new approval. Only a rollout still held changes,
   * so two approvals racing cannot start it twice. Returns the updated row, if it changed.
   */
  async redecide(
    id: number,
    d: { decision: 'allow' | 'hold' | 'deny'; reasons: readonly Reason[]; approvers: readonly Approver[]; justification: string | undefined },
    trx: Kysely<Database> = this.#db,
  ): Promise<RolloutRow | undefined> {
    return trx
      .updateTable('rollouts')
      .set({
        decision: d.decision,
        status: statusForDecision[d.decision],
        reasons: JSON.stringify(d.reasons),
        approvers: JSON.stringify(d.approvers),
        justification: d.justification ?? null,
      })
      .where('id', '=', id)
      .where('status', '=', 'held')
      .returningAll()
      .executeTakeFirst();
  }

  /** Takes the oldest queued rollout for this worker; no two workers get the same one. */
  async claimNext(workerId: string): Promise<RolloutRow | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      const next = await trx
        .selectFrom('rollouts')
        .select('id')
        .where('status', '=', 'queued')
        .orderBy('id')
        .limit(1)
        .forUpdate()
        .skipLocked()
        .executeTakeFirst();
      if (!next) return undefined;
      return trx
        .updateTable('rollouts')
        .set({ status: 'running', claimed_by: workerId, started_at: sql`coalesce(started_at, now())` })
        .where('id', '=', next.id)
        .returningAll()
        .executeTakeFirstOrThrow();
    });
  }

  /**
   * Puts rollouts that a stopped process left running back in the queue. Their finished steps
   * are kept and skipped on resume; the interrupted step runs again.
   */
  async requeueInterrupted(): Promise<number> {
    const rows = await this.#db
      .updateTable('rollouts')
      .set({ status: 'queued', claimed_by: null })
      .where('status', '=', 'running')
      .returning('id')
      .execute();
    if (rows.length > 0) {
      await this.#db
        .updateTable('rollout_steps')
        .set({ status: 'pending' })
        .where('status', '=', 'running')
        .where('rollout_id', 'in', rows.map((r) => r.id))
        .execute();
    }
    return rows.length;
  }

  async updateStep(rolloutId: number, stepId: string, position: number, update: StepUpdate): Promise<void> {
    const values = {
      status: update.status,
      ...(update.attempts !== undefined ? { attempts: update.attempts } : {}),
      ...(update.exitCode !== undefined ? { exit_code: update.exitCode } : {}),
      ...(update.startedAt !== undefined ? { started_at: update.startedAt } : {}),
      ...(update.finishedAt !== undefined ? { finished_at: update.finishedAt } : {}),
      ...(update.durationMs !== undefined ? { duration_ms: update.durationMs } : {}),
      ...(update.outputTail !== undefined ? { output_tail: update.outputTail } : {}),
      ...(update.error !== undefined ? { error: update.error } : {}),
    };
    await this.#db
      .insertInto('rollout_steps')
      .values({ rollout_id: rolloutId, step_id: stepId, position, attempts: 0, ...values })
      .onConflict((oc) => oc.columns(['rollout_id', 'step_id']).doUpdateSet(values))
      .execute();
  }

  async finish(id: number, status: 'succeeded' | 'failed'): Promise<RolloutRow> {
    return this.#db
      .updateTable('rollouts')
      .set({ status, finished_at: sql`now()`, claimed_by: null })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
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
}
