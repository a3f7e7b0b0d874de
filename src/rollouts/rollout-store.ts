import { sql, type Kysely } from 'kysely';
import type { Database, RolloutRow, RolloutStatus, StepRow, StepStatus } from '../db/schema.js';
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

  /**
   * Runs `fn` in one transaction with a store bound to it: a state change and the review message
   * that reports it commit together (and cost one commit, not two).
   */
  async inTransaction<T>(fn: (tx: { readonly rollouts: RolloutStore; readonly db: Kysely<Database> }) => Promise<T>): Promise<T> {
    return this.#db.transaction().execute((trx) => fn({ rollouts: new RolloutStore(trx), db: trx }));
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

  /**
   * Takes the next rollout this worker should drive, and leases it for `leaseMs`:
   * - a queued one, if its environment has no active rollout and it is the oldest queued there
   *   by merge time (environments run one rollout at a time, in merge order, whatever order the
   *   merges were decided in: a back-fill or a late approval can decide an older one last);
   * - a running one whose worker stopped renewing its lease (a crash: it resumes here);
   * - one parked at an approval gate whose deadline came.
   * Rows are locked with SKIP LOCKED, and a unique index on active rollouts per environment
   * settles any race between workers: the loser gets nothing this time.
   */
  async claim(workerId: string, leaseMs: number): Promise<RolloutRow | undefined> {
    try {
      const result = await sql<RolloutRow>`
        update rollouts set status = 'running', claimed_by = ${workerId},
          lease_expires_at = now() + ${`${leaseMs} milliseconds`}::interval,
          started_at = coalesce(started_at, now()), wake_at = null
        where id = (
          select r.id from rollouts r
          where (r.status = 'queued'
                  and not exists (select 1 from rollouts a where a.environment = r.environment and a.status in ('running', 'waiting'))
                  and not exists (select 1 from rollouts q where q.environment = r.environment and q.status = 'queued' and (q.merged_at, q.id) < (r.merged_at, r.id)))
             or (r.status = 'running' and (r.lease_expires_at is null or r.lease_expires_at <= now()))
             or (r.status = 'waiting' and r.wake_at <= now())
          order by r.merged_at, r.id
          limit 1
          for update of r skip locked
        )
        returning *`.execute(this.#db);
      return result.rows[0];
    } catch (err) {
      if ((err as { code?: string }).code === '23505') return undefined; // another worker took the environment first
      throw err;
    }
  }

  /**
   * Marks queued rollouts of `supersede` rules that never started as superseded when a newer
   * merge (by merge time) of the same rule and environment is queued, running, or has already
   * rolled out: deploying the older one then would put an older revision back. Returns them, with
   * the id of the rollout that replaced each.
   */
  async supersedeQueued(rules: readonly string[]): Promise<RolloutRow[]> {
    if (rules.length === 0) return [];
    return this.#db.transaction().execute(async (trx) => {
      const candidates = await sql<{ id: number; newer: number | string | null; newer_status: RolloutStatus | null }>`
        select o.id, n.id as newer, n.status as newer_status
        from rollouts o
        cross join lateral (
          select n.id, n.status from rollouts n
          where n.rule = o.rule and n.environment = o.environment
            and (n.merged_at, n.id) > (o.merged_at, o.id)
            and ((n.status in ('queued', 'running', 'waiting') and n.phase = 'forward') or n.status = 'succeeded')
          order by n.merged_at desc, n.id desc
          limit 1
        ) n
        where o.status = 'queued' and o.started_at is null and o.rule in (${sql.join([...rules])})
        order by o.id
        for update of o skip locked`.execute(trx);
      const superseded: RolloutRow[] = [];
      for (const c of candidates.rows) {
        const newer = Number(c.newer);
        const how = c.newer_status === 'succeeded' ? ', a newer merge of the same rule that already rolled out' : ', a newer merge of the same rule';
        const row = await trx
          .updateTable('rollouts')
          .set({ status: 'superseded', superseded_by: newer, finished_at: sql`now()`, outcome: `superseded by rollout #${newer}${how}` })
          .where('id', '=', Number(c.id))
          .where('status', '=', 'queued')
          .returningAll()
          .executeTakeFirst();
        if (row) {
          await trx.updateTable('rollout_steps').set({ status: 'skipped', note: `superseded by rollout #${newer}` }).where('rollout_id', '=', row.id).where('status', '=', 'pending').execute();
          superseded.push(row);
        }
      }
      return superseded;
    });
  }

  /**
   * Renews this worker's leases on its running rollouts and their running steps. Returns the
   * rollouts it still holds, with any operator request; one missing from the answer was lost.
   */
  async heartbeat(workerId: string, leaseMs: number): Promise<Array<{ id: number; request: string | null }>> {
    const until = sql<Date>`now() + ${`${leaseMs} milliseconds`}::interval`;
    const held = await this.#db
      .updateTable('rollouts')
      .set({ lease_expires_at: until })
      .where('claimed_by', '=', workerId)
      .where('status', '=', 'running')
      .returning(['id', 'request'])
      .execute();
    await this.#db.updateTable('rollout_steps').set({ lease_expires_at: until }).where('lease_owner', '=', workerId).where('status', '=', 'running').execute();
    return held;
  }

  /** Gives a rollout back without finishing it (a graceful stop): any worker may take it at once. */
  async release(id: number, workerId: string): Promise<void> {
    await this.#db.updateTable('rollouts').set({ claimed_by: null, lease_expires_at: sql`now()` }).where('id', '=', id).where('claimed_by', '=', workerId).where('status', '=', 'running').execute();
    await this.#db.updateTable('rollout_steps').set({ lease_expires_at: sql`now()` }).where('rollout_id', '=', id).where('lease_owner', '=', workerId).where('status', '=', 'running').execute();
  }

  /** Sets the workflow deadline on the first start of a run; returns it. */
  async fixDeadline(id: number, timeoutMs: number): Promise<Date> {
    const row = await this.#db
      .updateTable('rollouts')
      .set({ deadline_at: sql`coalesce(deadline_at, now() + ${`${timeoutMs} milliseconds`}::interval)` })
      .where('id', '=', id)
      .returning('deadline_at')
      .executeTakeFirstOrThrow();
    return row.deadline_at!;
  }

  /**
   * Parks a rollout at its approval gates: no worker holds it, it keeps its environment, and it
   * is looked at again at `wakeAt` or as soon as a gate is passed. Refused (false) when a gate was
   * passed since the worker looked (the rollout row lock orders this against `passGate`).
   */
  async park(id: number, workerId: string, waitingSteps: readonly string[], wakeAt: Date): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('rollouts').select(['claimed_by', 'request']).where('id', '=', id).forUpdate().executeTakeFirst();
      if (!row || row.claimed_by !== workerId || row.request !== null) return false;
      const still = await trx.selectFrom('rollout_steps').select('step_id').where('rollout_id', '=', id).where('status', '=', 'waiting').execute();
      if (still.length !== waitingSteps.length) return false;
      await trx.updateTable('rollouts').set({ status: 'waiting', claimed_by: null, lease_expires_at: null, wake_at: wakeAt }).where('id', '=', id).execute();
      return true;
    });
  }

  /** Moves a rollout to its rollback phase and records the rollback plan as pending steps. */
  async startRollback(id: number, workerId: string, plan: ReadonlyArray<{ stepId: string; kind: string; note: string | null }>, outcome: string | null): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('rollouts')
        .set({ phase: 'rollback', ...(outcome !== null ? { outcome } : {}) })
        .where('id', '=', id)
        .where('claimed_by', '=', workerId)
        .where('status', '=', 'running')
        .returning('id')
        .executeTakeFirst();
      if (!row) return false;
      if (plan.length > 0) {
        await trx
          .insertInto('rollout_steps')
          .values(plan.map((p, i) => ({ rollout_id: id, step_id: p.stepId, position: 1000 + i, status: 'pending' as const, attempts: 0, kind: p.kind, note: p.note })))
          .onConflict((oc) => oc.columns(['rollout_id', 'step_id']).doNothing())
          .execute();
      }
      return true;
    });
  }

  /**
   * Starts (or resumes) an attempt of a step for this worker: running, leased, with its
   * idempotency key. False when the rollout is no longer this worker's.
   */
  async startStep(rolloutId: number, stepId: string, workerId: string, leaseMs: number, s: { kind: string; attempt: number; idempotencyKey: string; deadlineMs?: number; note?: string }): Promise<StepRow | undefined> {
    return this.#db
      .updateTable('rollout_steps')
      .set({
        status: 'running',
        process_group: null,
        process_host: null,
        ...(s.note !== undefined ? { note: s.note } : {}),
        kind: s.kind,
        attempts: s.attempt,
        lease_owner: workerId,
        lease_expires_at: sql`now() + ${`${leaseMs} milliseconds`}::interval`,
        idempotency_key: s.idempotencyKey,
        started_at: sql`coalesce(started_at, now())`,
        ...(s.deadlineMs !== undefined ? { deadline_at: sql`coalesce(deadline_at, now() + ${`${s.deadlineMs} milliseconds`}::interval)` } : {}),
      })
      .where('rollout_id', '=', rolloutId)
      .where('step_id', '=', stepId)
      .where('status', 'in', ['pending', 'running'])
      .where(({ exists, selectFrom }) => exists(selectFrom('rollouts').select('id').where('id', '=', rolloutId).where('claimed_by', '=', workerId).where('status', '=', 'running')))
      .returningAll()
      .executeTakeFirst();
  }

  /** Records a step's end, only if this worker still holds it; the ended row, or undefined when the lease was lost. */
  async endStep(rolloutId: number, stepId: string, workerId: string, update: StepUpdate & { httpStatus?: number | null; note?: string | null }): Promise<StepRow | undefined> {
    return this.#db
      .updateTable('rollout_steps')
      .set({
        status: update.status,
        ...(update.attempts !== undefined ? { attempts: update.attempts } : {}),
        ...(update.exitCode !== undefined ? { exit_code: update.exitCode } : {}),
        ...(update.httpStatus !== undefined ? { http_status: update.httpStatus } : {}),
        ...(update.outputTail !== undefined ? { output_tail: update.outputTail } : {}),
        ...(update.error !== undefined ? { error: update.error } : {}),
        ...(update.note !== undefined ? { note: update.note } : {}),
        finished_at: sql`now()`,
        duration_ms: sql`(extract(epoch from (now() - coalesce(started_at, now()))) * 1000)::integer`,
        lease_owner: null,
        lease_expires_at: null,
        process_group: null,
        process_host: null,
      })
      .where('rollout_id', '=', rolloutId)
      .where('step_id', '=', stepId)
      .where((eb) => eb.or([eb('lease_owner', '=', workerId), eb('lease_owner', 'is', null)]))
      .where(({ exists, selectFrom }) => exists(selectFrom('rollouts').select('id').where('id', '=', rolloutId).where('claimed_by', '=', workerId).where('status', '=', 'running')))
      .returningAll()
      .executeTakeFirst();
  }

  /** Records the process group a running step's program leads and the host it runs on (see orphan-process.ts). */
  async setStepProcess(rolloutId: number, stepId: string, workerId: string, pgid: number, host: string): Promise<void> {
    await this.#db
      .updateTable('rollout_steps')
      .set({ process_group: pgid, process_host: host })
      .where('rollout_id', '=', rolloutId)
      .where('step_id', '=', stepId)
      .where('lease_owner', '=', workerId)
      .where('status', '=', 'running')
      .execute();
  }

  /** Plans steps a workflow gained after the rollout was created, after the existing ones. */
  async addSteps(rolloutId: number, stepIds: readonly string[], firstPosition: number): Promise<void> {
    if (stepIds.length === 0) return;
    await this.#db
      .insertInto('rollout_steps')
      .values(stepIds.map((stepId, i) => ({ rollout_id: rolloutId, step_id: stepId, position: firstPosition + i, status: 'pending' as const, attempts: 0 })))
      .onConflict((oc) => oc.columns(['rollout_id', 'step_id']).doNothing())
      .execute();
  }

  /** Moves steps of a rollout this worker holds from one of `from` to `status`, with a note (skipped, cancelled, failed); the rows it moved. */
  async markSteps(rolloutId: number, stepIds: readonly string[], workerId: string, from: readonly StepStatus[], status: StepStatus, note: { error?: string; note?: string }): Promise<StepRow[]> {
    if (stepIds.length === 0) return [];
    return this.#db
      .updateTable('rollout_steps')
      .set({ status, lease_owner: null, lease_expires_at: null, ...(note.error !== undefined ? { error: note.error } : {}), ...(note.note !== undefined ? { note: note.note } : {}), ...(status !== 'skipped' ? { finished_at: sql`now()` } : {}) })
      .where('rollout_id', '=', rolloutId)
      .where('step_id', 'in', [...stepIds])
      .where('status', 'in', [...from])
      .where(({ exists, selectFrom }) => exists(selectFrom('rollouts').select('id').where('id', '=', rolloutId).where('claimed_by', '=', workerId).where('status', '=', 'running')))
      .returningAll()
      .execute();
  }

  /** Marks a step as waiting at its approval gate until `deadlineMs` from its first wait. */
  async waitAtGate(rolloutId: number, stepId: string, workerId: string, deadlineMs: number, note: string): Promise<StepRow | undefined> {
    return this.#db
      .updateTable('rollout_steps')
      .set({ status: 'waiting', kind: 'approval', note, started_at: sql`coalesce(started_at, now())`, deadline_at: sql`coalesce(deadline_at, now() + ${`${deadlineMs} milliseconds`}::interval)` })
      .where('rollout_id', '=', rolloutId)
      .where('step_id', '=', stepId)
      .where('status', 'in', ['pending', 'waiting'])
      .where(({ exists, selectFrom }) => exists(selectFrom('rollouts').select('id').where('id', '=', rolloutId).where('claimed_by', '=', workerId).where('status', '=', 'running')))
      .returningAll()
      .executeTakeFirst();
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

  /** Ends a rollout this worker holds; undefined if it no longer holds it. */
  async finish(id: number, status: 'succeeded' | 'failed' | 'rolled_back' | 'cancelled', workerId?: string, outcome?: string | null): Promise<RolloutRow | undefined> {
    let q = this.#db
      .updateTable('rollouts')
      .set({ status, finished_at: sql`now()`, claimed_by: null, lease_expires_at: null, request: null, wake_at: null, ...(outcome !== undefined ? { outcome } : {}) })
      .where('id', '=', id)
      .where('status', '=', 'running');
    if (workerId !== undefined) q = q.where('claimed_by', '=', workerId);
    return q.returningAll().executeTakeFirst();
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
