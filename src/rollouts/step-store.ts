import { sql, type Kysely } from 'kysely';
import type { AuditAppendSql } from '../audit/audit-trail.js';
import type { AttemptStatus, Database, StepRow, StepStatus } from '../db/schema.js';
import { NO_ROWS } from '../db/no-rows.js';

/** How one attempt of a step ended. */
export interface AttemptEnd {
  readonly status: Exclude<AttemptStatus, 'running'>;
  readonly exitCode?: number | null;
  readonly httpStatus?: number | null;
  readonly error?: string | null;
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

/** A step as its attempt started: its number, and how long ago (database clock) the step first started. */
export type StartedStep = StepRow & { readonly attempt_number: number; readonly elapsed_ms: number };

/**
 * The `rollout_steps` rows as the workflow engine moves them: attempts started and ended under
 * the worker's lease, the process a step runs, steps planned late, skipped or cancelled, and
 * approval gates waited at. A write under the lease takes effect only while the worker still holds it.
 */
export class StepStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * Runs `fn` in one transaction with a store bound to it: a step's change and the audit entry
   * that records it commit together.
   */
  async inTransaction<T>(fn: (tx: { readonly steps: StepStore; readonly db: Kysely<Database> }) => Promise<T>): Promise<T> {
    return this.#db.transaction().execute((trx) => fn({ steps: new StepStore(trx), db: trx }));
  }

  /**
   * Starts (or resumes) an attempt of a step for this worker: running, leased, with its
   * idempotency key, and recorded as a new attempt (`attempt_number`), in one statement, before
   * anything runs. An attempt of this step still `running` (its worker died or stopped) is marked
   * `interrupted`. Undefined when the rollout is no longer this worker's.
   */
  async startStep(
    rolloutId: number,
    stepId: string,
    workerId: string,
    leaseMs: number,
    s: {
      kind: string;
      attempt: number;
      idempotencyKey: string;
      deadlineMs?: number;
      note?: string;
      /** Picks up the step's running attempt instead of starting a new one (a `wait` going on after its rollout was parked and claimed again). */
      continueAttempt?: boolean;
    },
    audit?: AuditAppendSql,
  ): Promise<StartedStep | undefined> {
    const started = sql`exists (select 1 from s)`;
    const newAttempt = !s.continueAttempt;
    // raw SQL: the engine's hottest statement, where building it with the query builder cost as much as running it
    const result = await sql<StartedStep>`
      with s as (
        update rollout_steps set status = 'running', process_group = null, process_host = null,
          note = coalesce(${s.note ?? null}::text, note), kind = ${s.kind}, attempts = ${s.attempt},
          lease_owner = ${workerId}, lease_expires_at = now() + ${`${leaseMs} milliseconds`}::interval,
          idempotency_key = ${s.idempotencyKey}, started_at = coalesce(started_at, now()),
          deadline_at = coalesce(deadline_at, now() + ${s.deadlineMs === undefined ? null : `${s.deadlineMs} milliseconds`}::interval)
        where rollout_id = ${rolloutId} and step_id = ${stepId} and status in ('pending', 'running')
          and exists (select 1 from rollouts where id = ${rolloutId} and claimed_by = ${workerId} and status = 'running')
        returning *
      ), interrupted as (
        update step_attempts set status = 'interrupted', finished_at = now()
        where rollout_id = ${rolloutId} and step_id = ${stepId} and status = 'running' and ${newAttempt} and ${started}
        returning number
      ), a as (
        insert into step_attempts (rollout_id, step_id, number, attempt, kind, worker)
        select s.rollout_id, s.step_id, coalesce((select max(number) from step_attempts where rollout_id = s.rollout_id and step_id = s.step_id), 0) + 1, s.attempts, ${s.kind}::text, ${workerId}::text
        from s
        where ${newAttempt} or not exists (select 1 from step_attempts where rollout_id = s.rollout_id and step_id = s.step_id and status = 'running')
        returning number
      ), audit_next as ${audit?.next(started) ?? NO_ROWS}, audit_row as ${audit?.row(started) ?? NO_ROWS}
      select s.*,
        -- a continued attempt keeps its number (the statement sees the attempts as they were before it)
        coalesce(a.number, (select max(number) from step_attempts where rollout_id = s.rollout_id and step_id = s.step_id)) as attempt_number,
        (extract(epoch from (now() - s.started_at)) * 1000)::integer as elapsed_ms
      from s left join a on true`.execute(this.#db);
    return result.rows[0];
  }

  /** Records how one attempt ended when the step goes on to another (a retry); the step's own row is untouched. */
  async endAttempt(rolloutId: number, stepId: string, number: number, end: AttemptEnd): Promise<void> {
    await this.#db
      .updateTable('step_attempts')
      .set({ status: end.status, exit_code: end.exitCode ?? null, http_status: end.httpStatus ?? null, error: end.error ?? null, finished_at: sql`now()` })
      .where('rollout_id', '=', rolloutId)
      .where('step_id', '=', stepId)
      .where('number', '=', number)
      .execute();
  }

  /**
   * Records a step's end, only if this worker still holds it, and with `attempt`, how that attempt
   * ended, and with `audit`, its audit entry, all in the same statement; the ended row, or undefined
   * when the lease was lost. `durationMs` is what the caller measured; without it, the time since
   * the step first started.
   */
  async endStep(
    rolloutId: number,
    stepId: string,
    workerId: string,
    update: StepUpdate & { httpStatus?: number | null; note?: string | null; attempt?: { readonly number: number; readonly status: AttemptEnd['status'] } },
    audit?: AuditAppendSql,
  ): Promise<StepRow | undefined> {
    const attempt = update.attempt;
    const ended = sql`exists (select 1 from s)`;
    // what the update leaves out keeps its value; what it gives, null included, is written
    const given: Array<[string, unknown]> = [
      ['attempts', update.attempts],
      ['exit_code', update.exitCode],
      ['http_status', update.httpStatus],
      ['output_tail', update.outputTail],
      ['error', update.error],
      ['note', update.note],
    ];
    const sets = given.filter(([, v]) => v !== undefined).map(([column, v]) => sql`${sql.ref(column)} = ${v}`);
    const duration = update.durationMs ?? sql`(extract(epoch from (now() - coalesce(started_at, now()))) * 1000)::integer`;
    const attemptEnd = attempt
      ? sql<object>`(update step_attempts set status = ${attempt.status}, exit_code = ${update.exitCode ?? null}, http_status = ${update.httpStatus ?? null}, error = ${update.error ?? null}, finished_at = now()
          where rollout_id = ${rolloutId} and step_id = ${stepId} and number = ${attempt.number} and ${ended}
          returning number)`
      : NO_ROWS;
    // raw SQL, like startStep: a step's end is the engine's other hot statement
    const result = await sql<StepRow>`
      with s as (
        update rollout_steps set status = ${update.status}, ${sql.join([...sets, sql``])}
          finished_at = now(), duration_ms = ${duration}, lease_owner = null, lease_expires_at = null, process_group = null, process_host = null
        where rollout_id = ${rolloutId} and step_id = ${stepId} and (lease_owner = ${workerId} or lease_owner is null)
          and exists (select 1 from rollouts where id = ${rolloutId} and claimed_by = ${workerId} and status = 'running')
        returning *
      ), a as ${attemptEnd}, audit_next as ${audit?.next(ended) ?? NO_ROWS}, audit_row as ${audit?.row(ended) ?? NO_ROWS}
      select * from s`.execute(this.#db);
    return result.rows[0];
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
}
