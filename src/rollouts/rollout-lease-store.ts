import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database, RolloutRow, RolloutStatus } from '../db/schema.js';
import { NO_ROWS } from '../db/no-rows.js';

/** A rollout as a claim took it: with how long ago (database clock) it first started. */
export type ClaimedRollout = RolloutRow & { readonly elapsed_ms: number };

/**
 * The workflow engine's side of the `rollouts` rows: a worker claims a rollout under a lease,
 * renews and gives it back, and makes the transitions only the lease holder makes (its deadline,
 * parking at gates, rollback, the end); queued rollouts a newer merge replaced are superseded
 * before a claim.
 */
export class RolloutLeaseStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
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
  async claim(workerId: string, leaseMs: number, supersedeRules: readonly string[] = []): Promise<ClaimedRollout | undefined> {
    try {
      const result = await sql<ClaimedRollout>`
        update rollouts set status = 'running', claimed_by = ${workerId},
          lease_expires_at = now() + ${`${leaseMs} milliseconds`}::interval,
          started_at = coalesce(started_at, now()), wake_at = null
        where id = (
          select c.id from (
            -- each kind of candidate in merge order, stopping at its first: never a scan of the whole queue
            select * from (
              select r.id, r.merged_at from rollouts r
              where r.status = 'queued'
                and not exists (select 1 from rollouts a where a.environment = r.environment and a.status in ('running', 'waiting'))
                -- one a newer merge supersedes (queued since the last supersede pass) waits for the next pass
                and not (r.rule = any(${[...supersedeRules]}::text[]) and exists (
                  select 1 from rollouts n where n.rule = r.rule and n.environment = r.environment and (n.merged_at, n.id) > (r.merged_at, r.id)
                    and ((n.status in ('queued', 'running', 'waiting') and n.phase = 'forward') or n.status = 'succeeded')))
              order by r.merged_at, r.id limit 1
              for update of r skip locked) as queued
            union all
            select * from (
              select r.id, r.merged_at from rollouts r
              where r.status = 'running' and (r.lease_expires_at is null or r.lease_expires_at <= now())
              order by r.merged_at, r.id limit 1
              for update of r skip locked) as lost
            union all
            select * from (
              select r.id, r.merged_at from rollouts r
              where r.status = 'waiting' and r.wake_at <= now()
              order by r.merged_at, r.id limit 1
              for update of r skip locked) as due
          ) as c
          order by c.merged_at, c.id
          limit 1
        )
        -- the first free one in merge order is the oldest queued in its environment, unless an older
        -- one was skipped as locked (another worker is claiming it): then nothing, this time
        and (status <> 'queued' or id = (select q.id from rollouts q where q.environment = rollouts.environment and q.status = 'queued' order by q.merged_at, q.id limit 1))
        returning *, (extract(epoch from (now() - started_at)) * 1000)::integer as elapsed_ms`.execute(this.#db);
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

  /**
   * Sets the workflow deadline on the first start of a run; returns it. `also` is written in the
   * same statement (the started message: it is queued exactly when the run has its deadline).
   */
  async fixDeadline(id: number, timeoutMs: number, also?: RawBuilder<object>): Promise<Date> {
    const row = await this.#db
      .with('d', (db) =>
        db
          .updateTable('rollouts')
          .set({ deadline_at: sql`coalesce(deadline_at, now() + ${`${timeoutMs} milliseconds`}::interval)` })
          .where('id', '=', id)
          .returning('deadline_at'),
      )
      .with('also', () => also ?? NO_ROWS)
      .selectFrom('d')
      .select('deadline_at')
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

  /**
   * Opens a passed approval gate again: its approval is older than the gate's `max_age` and the
   * step after it has not started. It waits afresh, with a new deadline, for a new approval.
   */
  async reopenGate(rolloutId: number, stepId: string, workerId: string, timeoutMs: number, note: string): Promise<{ deadline: Date } | undefined> {
    const row = await this.#db
      .updateTable('rollout_steps')
      .set({ status: 'waiting', note, finished_at: null, duration_ms: null, started_at: sql`now()`, deadline_at: sql`now() + ${`${timeoutMs} milliseconds`}::interval` })
      .where('rollout_id', '=', rolloutId)
      .where('step_id', '=', stepId)
      .where('status', '=', 'succeeded')
      .where(({ exists, selectFrom }) => exists(selectFrom('rollouts').select('id').where('id', '=', rolloutId).where('claimed_by', '=', workerId).where('status', '=', 'running')))
      .returning('deadline_at')
      .executeTakeFirst();
    return row?.deadline_at ? { deadline: row.deadline_at } : undefined;
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

  /** Ends a rollout this worker holds; undefined if it no longer holds it. */
  async finish(
    id: number,
    status: 'succeeded' | 'failed' | 'rolled_back' | 'cancelled',
    workerId?: string,
    outcome?: string | null,
    /** What to write in the same statement when it finishes (its report): given the condition "it finished". */
    alsoWhenFinished?: (when: RawBuilder<unknown>) => RawBuilder<object>,
  ): Promise<RolloutRow | undefined> {
    const finished = sql`exists (select 1 from f)`;
    return this.#db
      .with('f', (db) => {
        let q = db
          .updateTable('rollouts')
          .set({ status, finished_at: sql`now()`, claimed_by: null, lease_expires_at: null, request: null, wake_at: null, ...(outcome !== undefined ? { outcome } : {}) })
          .where('id', '=', id)
          .where('status', '=', 'running');
        if (workerId !== undefined) q = q.where('claimed_by', '=', workerId);
        return q.returningAll();
      })
      .with('also', () => alsoWhenFinished?.(finished) ?? NO_ROWS)
      .selectFrom('f')
      .selectAll()
      .executeTakeFirst();
  }

}
