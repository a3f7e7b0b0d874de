import type { Kysely } from 'kysely';
import { revisionProblem } from '../gerrit/commit-sha.js';
import type { AuditEvent, AuditTrail } from '../audit/audit-trail.js';
import type { Database, RolloutRow, StepRow, StepStatus } from '../db/schema.js';
import type { Policy } from '../decide/policy-config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { finishedMessage, gateMessage, startedMessage, supersededMessage } from '../report/format-message.js';
import type { OutboxStore } from '../report/outbox-store.js';
import { rolloutSummary, stepSummary } from '../report/rollout-summary.js';
import { formatDuration, parseDuration } from './duration.js';
import { sleep, MAX_TIMER_MS } from './abortable-sleep.js';
import { expiredGates, forwardState, parkedUntil, readySteps, resumedStatus, skippedSteps, stepFailure, stepsIn } from './dag-plan.js';
import type { Variables } from './interpolate.js';
import { stopProcessGroup, THIS_HOST } from './orphan-process.js';
import { redact, secretValues } from './redact.js';
import { isRollbackStep, rollbackDefinition, rollbackEnd, rollbackPlan } from './rollback-plan.js';
import { enqueueRolloutMessage } from './rollout-messages.js';
import type { RolloutStore } from './rollout-store.js';
import { runAction, type ActionResult } from './step-actions.js';
import { stepEvent, stepFinished } from './step-audit.js';
import { stepCredential, type StepCredentials } from './step-credentials.js';
import { idempotencyKey, stepEnv, usesPreviousRev, workflowVariables } from './step-environment.js';
import { DEFAULT_STEP_TIMEOUT, stepKind, type ActionDefinition, type StepDefinition, type WorkflowDefinition } from './workflow-config.js';

export interface RunnerDeps {
  readonly rollouts: RolloutStore;
  readonly outbox: OutboxStore;
  readonly policy: () => Policy;
  readonly logger: Logger;
  readonly workDir: string;
  readonly publicUrl: string | undefined;
  /** Unique per process (and per runner): the name its leases are held under. */
  readonly workerId: string;
  /** The allowlisted environment a step's process sees; rollgate's own variables are added to it. */
  readonly baseEnv: Readonly<Record<string, string>>;
  /** Values never stored or posted (e.g. the Gerrit password); secret-looking step variables are added. */
  readonly secrets?: readonly string[];
  readonly onReport: () => void;
  /** Observes step durations. */
  readonly metrics?: Metrics;
  /** How long a lease lasts without a heartbeat; a crashed worker's rollouts resume after this. */
  readonly leaseMs?: number;
  /** How often a running rollout renews its lease and looks for operator requests and passed gates. */
  readonly pollMs?: number;
  /** Jitter source for retry backoff; injectable for tests. */
  readonly random?: () => number;
  /** Appends step starts and ends to the audit trail, in the transaction that records them. */
  readonly audit?: AuditTrail;
  /** Gets the tokens of steps with `credentials.oidc`; absent while OIDC is not configured. */
  readonly credentials?: StepCredentials;
}

/** Why a rollout's steps were stopped from outside. */
type StopReason = 'cancel' | 'timeout' | 'shutdown' | 'lost';

/** How the forward phase of one claim ended. */
type ForwardEnd =
  | { readonly kind: 'succeeded' }
  | { readonly kind: 'failed'; readonly outcome: string }
  | { readonly kind: 'stopped' }
  | { readonly kind: 'parked' };

const DEFAULT_LEASE_MS = 30_000;

/**
 * The execute stage. `runNext()` claims one rollout (queued, or abandoned by a crashed worker, or
 * due at an approval gate) and drives its workflow as a DAG: ready steps start in parallel up to
 * the workflow's `max_parallel`, each with its timeout and retries; a step whose needs did not
 * succeed is skipped; a step that fails for good stops new starts, and once running steps end the
 * rollout rolls back (undo of completed steps newest first, then the `rollback` steps). Every
 * transition is written as it happens under this worker's lease, which a heartbeat renews, so
 * another worker can take over a crashed one without repeating a finished step.
 */
export class Runner {
  readonly #d: RunnerDeps;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #active = new Map<number, Execution>();
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  #stopping = false;
  #renewedAt = 0;

  constructor(deps: RunnerDeps) {
    this.#d = deps;
    this.#leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
    this.#pollMs = Math.max(10, Math.min(deps.pollMs ?? 1000, Math.floor(this.#leaseMs / 3)));
  }

  get deps(): RunnerDeps {
    return this.#d;
  }
  get leaseMs(): number {
    return this.#leaseMs;
  }
  get pollMs(): number {
    return this.#pollMs;
  }

  /** Drives one claimed rollout until it finishes, parks at a gate, or is released; false when there was none. */
  async runNext(): Promise<boolean> {
    if (this.#stopping) return false;
    await this.#supersede();
    const rollout = await this.#d.rollouts.claim(this.#d.workerId, this.#leaseMs);
    if (!rollout) return false;
    const execution = new Execution(this, rollout);
    this.#active.set(rollout.id, execution);
    this.#startHeartbeat();
    try {
      await execution.run();
    } finally {
      this.#active.delete(rollout.id);
      if (this.#active.size === 0) this.#stopHeartbeat();
    }
    return true;
  }

  /** Looks at once for operator requests and passed gates of the rollouts this runner drives. */
  wake(): void {
    if (this.#active.size > 0) void this.#beat();
  }

  /**
   * Stops taking work; running steps get `graceMs` to finish, then their processes are stopped
   * and their rollouts released for another worker (or the next start) to resume at once.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    for (const e of this.#active.values()) e.poke();
    const all = () => Promise.all([...this.#active.values()].map((e) => e.done));
    const timer = setTimeout(() => {
      for (const e of this.#active.values()) e.abort('shutdown');
    }, graceMs);
    await all();
    clearTimeout(timer);
    this.#stopHeartbeat();
    await this.#beating;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Queues a review message for a rollout; `phase` is unique per rollout and run. */
  async report(rollout: RolloutRow, phase: string, message: string): Promise<void> {
    await this.enqueue(rollout, phase, message);
    this.#d.onReport();
  }

  /** Queues a review message inside the caller's transaction; the caller wakes the reporter after commit. */
  async enqueue(rollout: RolloutRow, phase: string, message: string, trx?: Kysely<Database>): Promise<void> {
    await enqueueRolloutMessage(this.#d.outbox, rollout, phase, message, trx);
  }

  async #supersede(): Promise<void> {
    const rules = this.#d.policy().rollouts.filter((r) => r.queue === 'supersede').map((r) => r.name);
    for (const row of await this.#d.rollouts.supersedeQueued(rules)) {
      this.#d.logger.info({ rolloutId: row.id, supersededBy: row.superseded_by }, 'rollout superseded by a newer merge');
      await this.report(row, 'superseded', supersededMessage(rolloutSummary(row, this.#d.publicUrl), row.superseded_by!));
    }
  }

  #startHeartbeat(): void {
    if (this.#timer) return;
    this.#renewedAt = Date.now(); // a claim just took (or renewed) the lease
    this.#timer = setInterval(() => void this.#beat(), this.#pollMs);
  }

  #stopHeartbeat(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #beat(): Promise<void> {
    if (this.#beating) return this.#beating;
    this.#beating = (async () => {
      try {
        const held = new Map((await this.#d.rollouts.heartbeat(this.#d.workerId, this.#leaseMs)).map((h) => [h.id, h.request]));
        this.#renewedAt = Date.now();
        for (const [id, e] of this.#active) {
          if (!held.has(id)) {
            if (!e.finishing) e.abort('lost');
          } else if (held.get(id) === 'cancel') e.abort('cancel');
          e.poke();
        }
      } catch (err) {
        // the database may be restarting; the lease is long enough to try again, but once it has
        // run out another worker may have taken over, so this one stops its steps
        this.#d.logger.warn({ err }, 'lease heartbeat failed');
        if (Date.now() - this.#renewedAt > this.#leaseMs) for (const e of this.#active.values()) e.abort('lost');
      } finally {
        this.#beating = undefined;
      }
    })();
    return this.#beating;
  }
}

/** One claim of one rollout by one runner. */
class Execution {
  readonly #r: Runner;
  readonly #d: RunnerDeps;
  #rollout: RolloutRow;
  readonly #log: Logger;
  /** Stops forward steps (cancel, workflow timeout) and everything (shutdown, lost lease). */
  readonly #forward = new AbortController();
  readonly #all = new AbortController();
  #stopReason: StopReason | undefined;
  #wakeUp: (() => void) | undefined;
  #poked = false;
  #vars: Variables = {};
  #secrets: readonly string[] = [];
  #deadline = Infinity;
  #deadlineTimer: NodeJS.Timeout | undefined;
  readonly #inflight = new Set<Promise<unknown>>();
  finishing = false;
  done: Promise<void> = Promise.resolve();

  constructor(runner: Runner, rollout: RolloutRow) {
    this.#r = runner;
    this.#d = runner.deps;
    this.#rollout = rollout;
    this.#log = this.#d.logger.child({ rolloutId: rollout.id, rule: rollout.rule, run: rollout.run });
  }

  run(): Promise<void> {
    this.done = this.#run()
      .catch(async (err: unknown) => {
        // e.g. the database went away mid-rollout: stop this claim's processes before giving up,
        // so nothing of it is still running when the lease runs out and the rollout is taken again
        this.abort('lost');
        await Promise.allSettled(this.#inflight);
        throw err;
      })
      .finally(() => clearTimeout(this.#deadlineTimer));
    return this.done;
  }

  /** Stops forward steps at the workflow deadline (timers cap at ~24.8 days, so re-arm until then). */
  #armDeadline(): void {
    const left = this.#deadline - Date.now();
    if (left <= 0) return this.abort('timeout');
    this.#deadlineTimer = setTimeout(() => this.#armDeadline(), Math.min(left, MAX_TIMER_MS));
  }

  abort(reason: StopReason): void {
    if (reason === 'cancel' && this.#rollout.phase !== 'forward') return; // a rollback is not cancelled
    this.#stopReason ??= reason;
    this.#forward.abort(reason);
    if (reason === 'shutdown' || reason === 'lost') this.#all.abort(reason);
    this.poke();
  }

  poke(): void {
    this.#poked = true;
    this.#wakeUp?.();
  }

  async #run(): Promise<void> {
    const r = this.#rollout;
    const workflow = this.#d.policy().workflows[r.workflow];
    if (!workflow) {
      this.#log.error({ workflow: r.workflow }, 'workflow no longer exists in the policy');
      await this.#finish('failed', `workflow "${r.workflow}" is not in the current policy`);
      return;
    }
    // only full commit shas reach a step's argv and environment, whatever wrote the row
    const badRevision = revisionProblem(r);
    if (badRevision) {
      this.#log.error({ revision: r.revision, newRev: r.new_rev }, 'rollout revision is not a commit sha');
      await this.#finish('failed', badRevision);
      return;
    }
    // one query fewer per rollout for the many workflows that never look back
    const previousRev = usesPreviousRev(workflow) ? await this.#d.rollouts.previousRev(r) : undefined;
    this.#vars = workflowVariables(r, workflow, this.#d.baseEnv, previousRev);
    this.#secrets = secretValues(this.#d.baseEnv, this.#d.secrets);

    if (r.phase === 'forward') {
      if (r.request === 'cancel') this.abort('cancel');
      // once per run: the outbox keeps one message per key, so a resumed rollout does not repeat it
      const deadline = await this.#d.rollouts.inTransaction(async (tx) => {
        const at = await tx.rollouts.fixDeadline(r.id, parseDuration(workflow.timeout)!);
        await this.#r.enqueue(r, 'started', startedMessage(rolloutSummary(r, this.#d.publicUrl), workflow.steps.map((s) => s.id)), tx.db);
        return at;
      });
      this.#d.onReport();
      this.#deadline = deadline.getTime();
      this.#armDeadline();
      this.#log.info({ workflow: workflow.name }, 'rollout running');
      const end = await this.#runForward(workflow);
      clearTimeout(this.#deadlineTimer);
      if (end.kind === 'parked') return;
      if (end.kind === 'succeeded') {
        await this.#finish('succeeded', null);
        return;
      }
      if (this.#stopReason === 'shutdown' || this.#stopReason === 'lost') {
        await this.#release();
        return;
      }
      const outcome =
        end.kind === 'failed'
          ? end.outcome
          : this.#stopReason === 'timeout'
            ? `the workflow timed out after ${workflow.timeout}`
            : ((await this.#d.rollouts.get(r.id))?.outcome ?? 'cancelled by an operator');
      if (!(await this.#d.rollouts.startRollback(r.id, this.#d.workerId, rollbackPlan(workflow, await this.#d.rollouts.steps(r.id)), outcome))) return;
      this.#rollout = { ...this.#rollout, phase: 'rollback', outcome };
    } else {
      const steps = await this.#d.rollouts.steps(r.id);
      if (!steps.some((s) => isRollbackStep(s.step_id))) {
        if (!(await this.#d.rollouts.startRollback(r.id, this.#d.workerId, rollbackPlan(workflow, steps), null))) return;
      }
    }
    const result = await this.#runRollback(workflow);
    if (result === 'released') {
      await this.#release();
      return;
    }
    const cancelled = this.#rollout.request === 'cancel' || this.#stopReason === 'cancel';
    await this.#finish(rollbackEnd(result, cancelled), this.#rollout.outcome ?? null);
  }

  // ---- forward: the DAG --------------------------------------------------------------------

  async #runForward(workflow: WorkflowDefinition): Promise<ForwardEnd> {
    const id = this.#rollout.id;
    const worker = this.#d.workerId;
    const steps = workflow.steps;
    let rows = new Map((await this.#d.rollouts.steps(id)).map((s) => [s.step_id, s]));
    const missing = steps.filter((s) => !rows.has(s.id));
    if (missing.length > 0) {
      // the workflow gained steps since the rollout was planned: plan them now
      await this.#d.rollouts.addSteps(id, missing.map((s) => s.id), rows.size);
      rows = new Map((await this.#d.rollouts.steps(id)).map((s) => [s.step_id, s]));
    }
    const status = new Map<string, StepStatus>(steps.map((s) => [s.id, resumedStatus(rows.get(s.id)!.status)]));
    const gateDeadline = new Map<string, number>();
    for (const gate of stepsIn(steps, status, 'waiting')) gateDeadline.set(gate, rows.get(gate)!.deadline_at?.getTime() ?? Infinity);
    const failedRow = steps.find((s) => status.get(s.id) === 'failed');
    let failure: string | undefined = failedRow ? stepFailure(failedRow.id, rows.get(failedRow.id)!.error) : undefined;
    const running = new Map<string, Promise<void>>();
    const byId = new Map(steps.map((s) => [s.id, s]));

    // a step's bookkeeping failed (the database went away): give up this claim, see run()
    let crashed: { err: unknown } | undefined;
    for (;;) {
      if (crashed) throw crashed.err;
      if (this.#forward.signal.aborted) {
        await Promise.all(running.values());
        if (this.#stopReason === 'cancel' || this.#stopReason === 'timeout') {
          const note = this.#stopReason === 'cancel' ? 'the rollout was cancelled' : 'the workflow timed out';
          await this.#d.rollouts.markSteps(id, stepsIn(steps, status, 'waiting'), worker, ['waiting'], 'cancelled', { note });
          await this.#d.rollouts.markSteps(id, stepsIn(steps, status, 'pending'), worker, ['pending', 'running'], 'skipped', { note });
        }
        return { kind: 'stopped' };
      }
      if (this.#r.stopping && running.size === 0) {
        this.#stopReason ??= 'shutdown';
        return { kind: 'stopped' };
      }
      // approval gates past their deadline fail the rollout
      for (const stepId of expiredGates(gateDeadline, status, Date.now())) {
        const gate = byId.get(stepId)!.approval!;
        const error = `no approval by ${gate.roles.join(' or ')} within ${gate.timeout}`;
        await this.#audited(
          (rollouts) => rollouts.markSteps(id, [stepId], worker, ['waiting'], 'failed', { error }),
          ([r]) => r && this.#stepEvent('step-finished', r, `step ${stepId} failed: ${error}`, { status: r.status, error }),
        );
        status.set(stepId, 'failed');
        failure ??= stepFailure(stepId, error);
      }
      // a step whose needs cannot succeed any more is skipped (again after the writes: a running step may have ended meanwhile)
      for (let skips = skippedSteps(steps, status); skips.length > 0; skips = skippedSteps(steps, status)) {
        for (const { stepId, note } of skips) {
          await this.#d.rollouts.markSteps(id, [stepId], worker, ['pending', 'running'], 'skipped', { note });
          status.set(stepId, 'skipped');
        }
      }
      // one at a time, planned afresh: each start waits on the database, and steps end meanwhile
      for (let next = readySteps(steps, status, running.size, workflow.max_parallel)[0]; next && failure === undefined && !this.#r.stopping; next = readySteps(steps, status, running.size, workflow.max_parallel)[0]) {
        const step = next.step;
        if (next.as === 'gate') {
          const gate = step.approval!;
          const waitingFor = `waiting for approval by ${gate.roles.join(' or ')}`;
          const row = await this.#audited(
            (rollouts) => rollouts.waitAtGate(id, step.id, worker, parseDuration(gate.timeout)!, waitingFor),
            (r) => r && this.#stepEvent('step-started', r, `step ${step.id} started: ${waitingFor} until ${r.deadline_at?.toISOString()}`, { deadline: r.deadline_at }),
          );
          if (!row) return this.#lost();
          status.set(step.id, 'waiting');
          gateDeadline.set(step.id, row.deadline_at?.getTime() ?? Infinity);
          await this.#r.report(this.#rollout, `gate:${step.id}`, gateMessage(rolloutSummary(this.#rollout, this.#d.publicUrl), step.id, gate.roles, row.deadline_at ?? new Date()));
          continue;
        }
        status.set(step.id, 'running');
        const task = this.#runStep(step.id, stepKind(step), step, rows.get(step.id)!, this.#forward.signal);
        this.#inflight.add(task);
        const ended = () => {
          this.#inflight.delete(task);
          running.delete(step.id);
          this.poke();
        };
        running.set(
          step.id,
          task.then(
            (end) => {
              status.set(step.id, end.status);
              if (end.status === 'failed') failure ??= stepFailure(step.id, end.error);
              ended();
            },
            (err: unknown) => {
              crashed ??= { err };
              ended();
            },
          ),
        );
      }
      const state = forwardState(steps, status, running.size, failure);
      if (state.kind === 'failed') {
        await this.#d.rollouts.markSteps(id, state.waiting, worker, ['waiting'], 'cancelled', { note: 'the rollout failed before this gate was passed' });
        await this.#d.rollouts.markSteps(id, state.pending, worker, ['pending', 'running'], 'skipped', { note: 'an earlier step failed' });
        return { kind: 'failed', outcome: state.outcome };
      }
      if (state.kind === 'succeeded') return { kind: 'succeeded' };
      if (state.kind === 'at-gates' && !this.#r.stopping) {
        // only approvals can move this rollout on: give the worker back until one comes
        const wakeAt = parkedUntil(this.#deadline, state.gates, gateDeadline);
        if (await this.#d.rollouts.park(id, worker, state.gates, wakeAt)) {
          this.#log.info({ gates: state.gates, wakeAt }, 'rollout parked at approval gates');
          return { kind: 'parked' };
        }
      }
      await this.#nextEvent();
      if (stepsIn(steps, status, 'waiting').length > 0) {
        for (const row of await this.#d.rollouts.steps(id)) {
          if (status.get(row.step_id) === 'waiting' && row.status !== 'waiting') status.set(row.step_id, row.status);
        }
      }
    }
  }

  #lost(): ForwardEnd {
    this.abort('lost');
    return { kind: 'stopped' };
  }

  /** Waits for a running step to end, a poke (heartbeat, gate passed, request), or the poll interval. */
  async #nextEvent(): Promise<void> {
    if (this.#poked) {
      this.#poked = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.#r.pollMs);
      this.#wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wakeUp = undefined;
    this.#poked = false;
  }

  // ---- one step ----------------------------------------------------------------------------

  /** Runs a step (see #runAttempts) and, when it ended here, records how long it took. */
  async #runStep(stepId: string, kind: string, def: ActionDefinition | StepDefinition, row: StepRow, signal: AbortSignal): Promise<{ status: StepStatus; error?: string | null }> {
    const started = performance.now();
    const end = await this.#runAttempts(stepId, kind, def, row, signal);
    // 'running' means it did not end here (shutdown, lost lease): whoever resumes it records it
    if (end.status !== 'running') this.#d.metrics?.stepDuration.observe({ kind, status: end.status }, (performance.now() - started) / 1000);
    return end;
  }

  /** Runs a `run`, `http` or `wait` step (or an undo / rollback step) with its retries; the status it ended in. */
  async #runAttempts(stepId: string, kind: string, def: ActionDefinition | StepDefinition, row: StepRow, signal: AbortSignal): Promise<{ status: StepStatus; error?: string | null }> {
    const id = this.#rollout.id;
    const worker = this.#d.workerId;
    const key = idempotencyKey(id, stepId);
    const log = this.#log.child({ step: stepId });
    // left running by a worker that died: what it started may still run, and must not overlap this run
    const orphanNote = row.status === 'running' && row.process_group !== null ? await this.#stopOrphan(row, log) : undefined;
    const note = orphanNote !== undefined ? { note: orphanNote } : {};
    if (kind === 'wait') {
      const started = await this.#startStep(stepId, { kind, attempt: 1, idempotencyKey: key, ...note });
      if (!started) return this.#stepLost();
      const until = (started.started_at?.getTime() ?? Date.now()) + parseDuration((def as StepDefinition).wait!)!;
      await sleep(until - Date.now(), signal);
      if (signal.aborted) return this.#interrupted(stepId, null);
      await this.#endStep(stepId, { status: 'succeeded', attempts: 1 });
      return { status: 'succeeded' };
    }
    const maxAttempts = def.retry?.attempts ?? 1;
    const firstAttempt = row.status === 'running' ? Math.max(1, row.attempts) : row.attempts + 1;
    const stepTimeout = parseDuration(def.timeout ?? DEFAULT_STEP_TIMEOUT)!;
    let result: ActionResult | undefined;
    let attempt = Math.min(firstAttempt, maxAttempts);
    for (; attempt <= maxAttempts; attempt++) {
      const started = await this.#startStep(stepId, { kind, attempt, idempotencyKey: key, ...(attempt === firstAttempt ? note : {}) });
      if (!started) return this.#stepLost();
      const forward = signal === this.#forward.signal;
      const timeoutMs = forward ? Math.max(1, Math.min(stepTimeout, this.#deadline - Date.now())) : stepTimeout;
      // a fresh token for every attempt, held only in this attempt's environment and redaction list
      const credential = await stepCredential(def, this.#d.credentials);
      result =
        'error' in credential
          ? { ok: false, exitCode: null, httpStatus: null, output: null, error: redact(credential.error, this.#secrets) }
          : await runAction(def, {
              vars: this.#vars,
              workDir: this.#d.workDir,
              env: { ...this.#d.baseEnv, ...stepEnv(this.#rollout, stepId, key, attempt), ...credential.env },
              idempotencyKey: key,
              timeoutMs,
              secrets: [...credential.secrets, ...this.#secrets],
              signal,
              onSpawn: (pgid) =>
                this.#d.rollouts.setStepProcess(id, stepId, worker, pgid, THIS_HOST).catch((err: unknown) => {
                  // the step runs on; only a takeover after a crash would miss its process group
                  log.warn({ err, pgid }, 'could not record the step process group');
                }),
            });
      log.info({ attempt, ok: result.ok, exitCode: result.exitCode, httpStatus: result.httpStatus, error: result.error }, 'step attempt finished');
      if (signal.aborted) return this.#interrupted(stepId, result);
      if (result.ok) {
        await this.#endStep(stepId, { status: 'succeeded', attempts: attempt, exitCode: result.exitCode, httpStatus: result.httpStatus, outputTail: result.output, error: null });
        return { status: 'succeeded' };
      }
      if (attempt < maxAttempts) {
        const delay = backoff(def.retry!, attempt, this.#d.random ?? Math.random);
        log.info({ attempt, retryInMs: delay }, 'step failed; retrying');
        await sleep(delay, signal);
        if (signal.aborted) return this.#interrupted(stepId, result);
      }
    }
    const error = result?.error ?? 'failed';
    await this.#endStep(stepId, { status: 'failed', attempts: maxAttempts, exitCode: result?.exitCode ?? null, httpStatus: result?.httpStatus ?? null, outputTail: result?.output ?? null, error });
    return { status: 'failed', error };
  }

  /**
   * Stops the process group a dead worker's attempt of this step left running, when it is on
   * this host; returns the note the step keeps about it (undefined when nothing was running).
   * On another host it can only be said: the step runs again with the same idempotency key.
   */
  async #stopOrphan(row: StepRow, log: Logger): Promise<string | undefined> {
    const pgid = row.process_group!;
    const previous = row.lease_owner ?? 'that stopped';
    if (row.process_host !== THIS_HOST) {
      log.warn({ pgid, host: row.process_host, previousWorker: previous }, 'the step may still be running on another host; running it again');
      return `the previous attempt ran on ${row.process_host} (process group ${pgid}), which rollgate cannot stop from ${THIS_HOST}; it ran again with the same idempotency key`;
    }
    const end = await stopProcessGroup(pgid);
    if (end === 'gone' || end === 'not-ours') return undefined;
    log.warn({ pgid, previousWorker: previous, how: end }, 'stopped a step process group left running by a worker that died');
    return `stopped process group ${pgid} left running by worker ${previous} (${end === 'killed' ? 'SIGKILL after SIGTERM' : 'SIGTERM'}) before running it again`;
  }

  /** Starts (or resumes) an attempt of a step under this worker's lease; undefined when the lease was lost. */
  #startStep(stepId: string, s: { kind: string; attempt: number; idempotencyKey: string; note?: string }): Promise<StepRow | undefined> {
    return this.#audited(
      (rollouts) => rollouts.startStep(this.#rollout.id, stepId, this.#d.workerId, this.#r.leaseMs, s),
      (r) => r && this.#stepEvent('step-started', r, `step ${stepId} started (${s.kind}, attempt ${s.attempt})`, { attempt: s.attempt, idempotencyKey: s.idempotencyKey }),
    );
  }

  /** Records a step's end under this worker's lease; undefined when the lease was lost. */
  #endStep(stepId: string, update: Parameters<RolloutStore['endStep']>[3]): Promise<StepRow | undefined> {
    return this.#audited(
      (rollouts) => rollouts.endStep(this.#rollout.id, stepId, this.#d.workerId, update),
      (r) => {
        if (!r) return undefined;
        const { summary, facts } = stepFinished(r);
        return this.#stepEvent('step-finished', r, summary, facts);
      },
    );
  }

  /**
   * Makes a state change and, with an audit trail, appends what it did in the same transaction:
   * the trail never shows a step start or end the database does not, nor misses one it does.
   */
  async #audited<T>(change: (rollouts: RolloutStore) => Promise<T>, event: (result: T) => AuditEvent | undefined): Promise<T> {
    const audit = this.#d.audit;
    if (!audit) return change(this.#d.rollouts);
    return this.#d.rollouts.inTransaction(async (tx) => {
      const result = await change(tx.rollouts);
      const e = event(result);
      if (e) await audit.append(e, tx.db);
      return result;
    });
  }

  #stepEvent(kind: 'step-started' | 'step-finished', row: StepRow, summary: string, facts: Readonly<Record<string, unknown>>): AuditEvent {
    return stepEvent(this.#rollout, this.#d.workerId, kind, row, summary, facts);
  }

  #stepLost(): { status: StepStatus } {
    this.abort('lost');
    return { status: 'running' };
  }

  /** A step stopped from outside: cancelled or timed out are recorded; a shutdown or lost lease leaves it to be resumed. */
  async #interrupted(stepId: string, result: ActionResult | null): Promise<{ status: StepStatus; error?: string }> {
    const reason = this.#stopReason;
    if (reason !== 'cancel' && reason !== 'timeout') return { status: 'running' };
    const error = reason === 'cancel' ? 'stopped: the rollout was cancelled' : 'stopped: the workflow timed out';
    const status = reason === 'cancel' ? 'cancelled' : 'failed';
    await this.#endStep(stepId, { status, exitCode: result?.exitCode ?? null, httpStatus: result?.httpStatus ?? null, outputTail: result?.output ?? null, error });
    return { status, error };
  }

  // ---- rollback ----------------------------------------------------------------------------

  /** Runs the planned rollback steps one by one; a failed one does not stop the others. */
  async #runRollback(workflow: WorkflowDefinition): Promise<'ok' | 'failed' | 'none' | 'released'> {
    const plan = (await this.#d.rollouts.steps(this.#rollout.id)).filter((s) => isRollbackStep(s.step_id));
    if (plan.length === 0) return 'none';
    let failed = plan.some((s) => s.status === 'failed');
    for (const row of plan) {
      if (row.status !== 'pending' && row.status !== 'running') continue;
      if (this.#all.signal.aborted || this.#r.stopping) return 'released';
      const def = rollbackDefinition(workflow, row.step_id);
      if (!def) {
        await this.#d.rollouts.markSteps(this.#rollout.id, [row.step_id], this.#d.workerId, ['pending', 'running'], 'failed', { error: 'no longer in the workflow' });
        failed = true;
        continue;
      }
      const end = await this.#runStep(row.step_id, stepKind(def), def, row, this.#all.signal);
      if (end.status === 'running') return 'released';
      if (end.status !== 'succeeded') failed = true;
    }
    return failed ? 'failed' : 'ok';
  }

  // ---- the end -----------------------------------------------------------------------------

  async #finish(status: 'succeeded' | 'failed' | 'rolled_back' | 'cancelled', outcome: string | null): Promise<void> {
    this.finishing = true;
    // the end and its report commit together: a crash cannot leave a finished rollout unreported
    const total = await this.#d.rollouts.inTransaction(async (tx) => {
      const finished = await tx.rollouts.finish(this.#rollout.id, status, this.#d.workerId, outcome);
      if (!finished) return undefined; // another worker took it over; it will report
      const steps = (await tx.rollouts.steps(finished.id)).map(stepSummary);
      const ms = (finished.finished_at?.getTime() ?? Date.now()) - (finished.started_at?.getTime() ?? Date.now());
      const summary = rolloutSummary(finished, this.#d.publicUrl);
      await this.#r.enqueue(finished, 'finished', finishedMessage(summary, status === 'succeeded', ms, steps, { status, outcome: outcome === null ? null : redact(outcome, this.#secrets) }), tx.db);
      return ms;
    });
    if (total === undefined) return;
    this.#d.onReport();
    this.#log.info({ status, outcome, ms: total, took: formatDuration(total) }, 'rollout finished');
  }

  async #release(): Promise<void> {
    await this.#d.rollouts.release(this.#rollout.id, this.#d.workerId);
    this.#log.info({ reason: this.#stopReason }, 'rollout released for another worker to resume');
  }
}

/** Exponential backoff with "equal jitter": half the delay fixed, half random, capped. */
export function backoff(retry: { backoff: string; max_backoff: string }, attempt: number, random: () => number): number {
  const base = Math.min(parseDuration(retry.backoff)! * 2 ** (attempt - 1), parseDuration(retry.max_backoff)!);
  return Math.round(base / 2 + random() * (base / 2));
}
