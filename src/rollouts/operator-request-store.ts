import { sql, type Kysely } from 'kysely';
import type { Database, RolloutRow, RolloutStatus } from '../db/schema.js';

/**
 * What operators' requests change in a decided rollout (see src/actions/operations.ts): an
 * approval gate passed, a stop asked for, a finished rollout queued again to retry or roll back.
 * Each checks the rollout's state in the update that acts, so two requests at once get one effect.
 */
export class OperatorRequestStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * Passes a waiting approval gate; returns false if it was not waiting (already passed, timed
   * out, cancelled). A parked rollout becomes claimable at once; a running one sees the change on
   * its next poll.
   */
  async passGate(rolloutId: number, stepId: string, note: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const rollout = await trx.selectFrom('rollouts').select('status').where('id', '=', rolloutId).forUpdate().executeTakeFirst();
      if (!rollout || (rollout.status !== 'waiting' && rollout.status !== 'running')) return false;
      const step = await trx
        .updateTable('rollout_steps')
        .set({ status: 'succeeded', note, finished_at: sql`now()`, duration_ms: sql`(extract(epoch from (now() - coalesce(started_at, now()))) * 1000)::integer` })
        .where('rollout_id', '=', rolloutId)
        .where('step_id', '=', stepId)
        .where('status', '=', 'waiting')
        .returning('step_id')
        .executeTakeFirst();
      if (!step) return false;
      await trx.updateTable('rollouts').set({ status: 'running', claimed_by: null, lease_expires_at: sql`now()`, wake_at: null }).where('id', '=', rolloutId).where('status', '=', 'waiting').execute();
      return true;
    });
  }

  /**
   * Asks for a rollout to stop and roll back. Queued (or held) and never started: it just ends
   * `cancelled`. Running: its worker sees the request. Parked at a gate: it becomes claimable
   * with the request, so a worker picks it up and rolls back. Returns what happened.
   */
  async requestCancel(id: number, outcome: string): Promise<'cancelled' | 'requested' | 'already' | 'finished' | 'missing'> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('rollouts').select(['status', 'request', 'phase']).where('id', '=', id).forUpdate().executeTakeFirst();
      if (!row) return 'missing';
      if (row.status === 'queued' || row.status === 'held') {
        await trx.updateTable('rollouts').set({ status: 'cancelled', outcome, finished_at: sql`now()` }).where('id', '=', id).execute();
        await trx.updateTable('rollout_steps').set({ status: 'skipped', note: 'cancelled before it ran' }).where('rollout_id', '=', id).where('status', '=', 'pending').execute();
        return 'cancelled';
      }
      if (row.status !== 'running' && row.status !== 'waiting') return 'finished';
      if (row.request === 'cancel' || row.phase === 'rollback') return 'already';
      await trx
        .updateTable('rollouts')
        .set({ request: 'cancel', outcome, ...(row.status === 'waiting' ? { status: 'running', claimed_by: null, lease_expires_at: sql`now()`, wake_at: null } : {}) })
        .where('id', '=', id)
        .execute();
      return 'requested';
    });
  }

  /**
   * Puts a finished rollout back in its environment's queue for another run: `forward` re-runs
   * from the failed step (steps that succeeded and were not undone are kept), `rollback` runs the
   * rollback of a finished rollout. Only from the given statuses, so two requests start one run.
   */
  async requeue(id: number, phase: 'forward' | 'rollback', from: readonly RolloutStatus[], outcome: string): Promise<RolloutRow | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('rollouts')
        .set({ status: 'queued', phase, run: sql`run + 1`, request: phase === 'rollback' ? 'rollback' : null, outcome, claimed_by: null, lease_expires_at: null, wake_at: null, deadline_at: null, finished_at: null })
        .where('id', '=', id)
        .where('status', 'in', [...from])
        .returningAll()
        .executeTakeFirst();
      if (!row) return undefined;
      const steps = await trx.selectFrom('rollout_steps').select(['step_id', 'status']).where('rollout_id', '=', id).execute();
      const undone = new Set(steps.filter((s) => s.step_id.startsWith('undo:') && s.status === 'succeeded').map((s) => s.step_id.slice('undo:'.length)));
      const isRollbackStep = (stepId: string) => stepId.startsWith('undo:') || stepId.startsWith('rollback:');
      // the previous run's rollback was reported with that run; the next rollback is planned afresh
      await trx.deleteFrom('rollout_steps').where('rollout_id', '=', id).where((eb) => eb.or([eb('step_id', 'like', 'undo:%'), eb('step_id', 'like', 'rollback:%')])).execute();
      if (phase === 'forward') {
        const rerun = steps.filter((s) => !isRollbackStep(s.step_id) && (s.status !== 'succeeded' || undone.has(s.step_id))).map((s) => s.step_id);
        if (rerun.length > 0) {
          await trx
            .updateTable('rollout_steps')
            .set({ status: 'pending', attempts: 0, exit_code: null, http_status: null, error: null, note: null, output_tail: null, started_at: null, finished_at: null, duration_ms: null, deadline_at: null, lease_owner: null, lease_expires_at: null })
            .where('rollout_id', '=', id)
            .where('step_id', 'in', rerun)
            .execute();
        }
      }
      return row;
    });
  }
}
