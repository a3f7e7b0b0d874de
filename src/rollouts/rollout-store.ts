import type { Kysely } from 'kysely';
import type { Database, RolloutRow, RolloutStatus } from '../db/schema.js';
import type { Approver, Reason } from '../policy/decide.js';

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
  /** When the change was merged; the environment's queue runs in this order (default: now). */
  readonly mergedAt?: Date | undefined;
}

const statusForDecision = { allow: 'queued', hold: 'held', deny: 'denied' } as const satisfies Record<string, RolloutStatus>;

/**
 * The `rollouts` rows as decisions write and read them: a merge's rollout with its planned steps,
 * a held one decided again after an approval, and the rollouts of a change that wait for someone.
 * The workflow engine's writes are in RolloutLeaseStore and StepStore, operators' requests in
 * OperatorRequestStore, and reads by id or filter in RolloutReads.
 */
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
        ...(r.mergedAt !== undefined ? { merged_at: r.mergedAt } : {}),
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

  /** Rollouts of a change parked at (or running up to) an approval gate that waits for someone. */
  async waitingForChange(project: string, changeNumber: number): Promise<RolloutRow[]> {
    return this.#db
      .selectFrom('rollouts')
      .selectAll()
      .where('project', '=', project)
      .where('change_number', '=', changeNumber)
      .where('status', 'in', ['waiting', 'running'])
      .where(({ exists, selectFrom, ref }) => exists(selectFrom('rollout_steps').select('step_id').whereRef('rollout_id', '=', ref('rollouts.id')).where('status', '=', 'waiting')))
      .orderBy('id')
      .execute();
  }
}
