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
  /** What the decision was given for (`ApprovalBinding`), checked again at the start. */
  readonly binding?: unknown;
}

/** A decision as a rollout row keeps it. */
export interface StoredDecision {
  readonly decision: 'allow' | 'hold' | 'deny';
  readonly reasons: readonly Reason[];
  readonly approvers: readonly Approver[];
  readonly justification: string | undefined;
  readonly binding?: unknown;
}

/** The columns a decision sets; a binding only when one is given. */
function decisionColumns(d: StoredDecision) {
  return {
    decision: d.decision,
    status: statusForDecision[d.decision],
    reasons: JSON.stringify(d.reasons),
    approvers: JSON.stringify(d.approvers),
    justification: d.justification ?? null,
    ...(d.binding !== undefined ? { approval_binding: JSON.stringify(d.binding) } : {}),
  };
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
        ...(r.binding !== undefined ? { approval_binding: JSON.stringify(r.binding) } : {}),
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
  async redecide(id: number, d: StoredDecision, trx: Kysely<Database> = this.#db): Promise<RolloutRow | undefined> {
    return trx.updateTable('rollouts').set(decisionColumns(d)).where('id', '=', id).where('status', '=', 'held').returningAll().executeTakeFirst();
  }

  /**
   * The check at the start found the decision no longer holds: the rollout `workerId` just
   * claimed goes back to held or denied, as if it had never started (it ran no step). Returns the
   * row, or undefined when this worker no longer holds it.
   */
  async refuseStart(id: number, workerId: string, d: StoredDecision & { readonly decision: 'hold' | 'deny' }, trx: Kysely<Database> = this.#db): Promise<RolloutRow | undefined> {
    return trx
      .updateTable('rollouts')
      .set({ ...decisionColumns(d), started_at: null, claimed_by: null, lease_expires_at: null, wake_at: null })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .where('claimed_by', '=', workerId)
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * The check at the start allowed the rollout again under what it starts with now: its new
   * decision and binding, and with `workflow` the workflow its rule names now (the steps of the
   * one it was planned with that the new one lacks are skipped; the runner plans the new ones).
   */
  async rebind(
    id: number,
    workerId: string,
    d: StoredDecision & { readonly decision: 'allow' },
    workflow: { readonly name: string; readonly stepIds: readonly string[] } | undefined,
    trx: Kysely<Database> = this.#db,
  ): Promise<RolloutRow | undefined> {
    const { status: _queued, ...columns } = decisionColumns(d);
    const row = await trx
      .updateTable('rollouts')
      .set({ ...columns, ...(workflow ? { workflow: workflow.name } : {}) })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .where('claimed_by', '=', workerId)
      .returningAll()
      .executeTakeFirst();
    if (row && workflow) {
      let stale = trx.updateTable('rollout_steps').set({ status: 'skipped', note: `not in workflow ${workflow.name}, which the rule runs now` }).where('rollout_id', '=', id).where('status', '=', 'pending');
      if (workflow.stepIds.length > 0) stale = stale.where('step_id', 'not in', [...workflow.stepIds]);
      await stale.execute();
    }
    return row;
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
