import { revisionProblem } from '../gerrit/commit-sha.js';
import type { RolloutRow, StepStatus } from '../db/schema.js';
import type { ClaimedRollout } from '../rollouts/rollout-lease-store.js';
import type { Logger } from '../log.js';
import { stepSummary } from '../messages/rollout-summary.js';
import { formatDuration, parseDuration } from '../duration.js';
import { MAX_TIMER_MS } from './abortable-sleep.js';
import { expiredGates, forwardState, parkedUntil, readySteps, resumedStatus, skippedSteps, stepFailure, stepsIn } from './dag-plan.js';
import type { Variables } from '../policy/interpolate.js';
import { redact, secretValues } from './redact.js';
import { isRollbackStep, rollbackDefinition, rollbackEnd, rollbackPlan } from './rollback-plan.js';
import type { RunnerDeps } from './runner-deps.js';
import { usesPreviousRev, workflowVariables } from './step-environment.js';
import { StepRunner, type StepClaim, type StopReason } from './step-runner.js';
import { WakeUp } from '../wake-up.js';
import { stepKind, type WorkflowDefinition } from '../policy/workflow-config.js';
import type { Reason } from '../policy/decide.js';
import { staleGateApprovals, windowHoldsStep } from '../policy/step-window.js';

/** What a claim needs of the runner that took it. */
export interface ExecutionHost {
  readonly deps: RunnerDeps;
  readonly leaseMs: number;
  /** How often the claim looks again when nothing woke it. */
  readonly pollMs: number;
  /** The runner stops taking work: start no new steps. */
  readonly stopping: boolean;
}

/** How the forward phase of one claim ended. */
type ForwardEnd =
  | { readonly kind: 'succeeded' }
  | { readonly kind: 'failed'; readonly outcome: string }
  | { readonly kind: 'stopped' }
  | { readonly kind: 'parked' };

/** One claim of one rollout by one runner. */
export class Execution implements StepClaim {
  readonly #r: ExecutionHost;
  readonly #d: RunnerDeps;
  #rollout: RolloutRow;
  /** When the rollout first started, on this process's monotonic clock (its total time counts from there). */
  readonly #startedAt: number;
  readonly #log: Logger;
  /** Stops forward steps (cancel, workflow timeout) and everything (shutdown, lost lease). */
  readonly #forward = new AbortController();
  readonly #all = new AbortController();
  #stopReason: StopReason | undefined;
  /** Wakes the forward loop: a running step ended, a heartbeat, a passed gate, an operator request. */
  readonly #wakeUp = new WakeUp();
  #vars: Variables = {};
  #secrets: readonly string[] = [];
  #deadline = Infinity;
  #deadlineTimer: NodeJS.Timeout | undefined;
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #steps: StepRunner;
  /** Steps already reported as held back by a window on this claim. */
  readonly #windowSaid = new Set<string>();
  finishing = false;
  done: Promise<void> = Promise.resolve();

  constructor(runner: ExecutionHost, rollout: ClaimedRollout) {
    this.#r = runner;
    this.#d = runner.deps;
    this.#rollout = rollout;
    this.#startedAt = performance.now() - rollout.elapsed_ms;
    this.#log = this.#d.logger.child({ rolloutId: rollout.id, rule: rollout.rule, run: rollout.run });
    this.#steps = new StepRunner(this.#d, this);
  }

  // what its steps read of this claim (see StepClaim), at each use: the phase and stop reason change
  get rollout(): RolloutRow { return this.#rollout; }
  get log(): Logger { return this.#log; }
  get leaseMs(): number { return this.#r.leaseMs; }
  get vars(): Variables { return this.#vars; }
  get secrets(): readonly string[] { return this.#secrets; }
  get forwardSignal(): AbortSignal { return this.#forward.signal; }
  get deadline(): number { return this.#deadline; }
  get stopReason(): StopReason | undefined { return this.#stopReason; }

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
    this.#wakeUp.poke();
  }

  async #run(): Promise<void> {
    if (!(await this.#stillAllowed())) return;
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
    const previousRev = usesPreviousRev(workflow) ? await this.#d.reads.previousRev(r) : undefined;
    this.#vars = workflowVariables(r, workflow, this.#d.baseEnv, previousRev);
    this.#secrets = secretValues(this.#d.baseEnv, this.#d.secrets);

    if (r.phase === 'forward') {
      if (r.request === 'cancel') this.abort('cancel');
      // once per run: the outbox keeps one message per key, so a resumed rollout does not repeat it
      const deadline = await this.#d.leases.fixDeadline(r.id, parseDuration(workflow.timeout)!, this.#d.messages.startedSql(r, workflow.steps.map((s) => s.id)));
      this.#d.onReport();
      if (r.run === 1 && r.deadline_at === null) this.#d.metrics?.rolloutStarted(r.merged_at, r.started_at); // the first start only, not a resume
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
            : ((await this.#d.reads.get(r.id))?.outcome ?? 'cancelled by an operator');
      if (!(await this.#d.leases.startRollback(r.id, this.#d.workerId, rollbackPlan(workflow, await this.#d.reads.steps(r.id)), outcome))) return;
      this.#rollout = { ...this.#rollout, phase: 'rollback', outcome };
    } else {
      const steps = await this.#d.reads.steps(r.id);
      if (!steps.some((s) => isRollbackStep(s.step_id))) {
        if (!(await this.#d.leases.startRollback(r.id, this.#d.workerId, rollbackPlan(workflow, steps), null))) return;
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

  /**
   * Before a run's first step: is the decision still good now (see RunnerDeps.startCheck)? Only a
   * first start is checked, not a resume after a crash or a wake at a gate (its deadline is set).
   */
  async #stillAllowed(): Promise<boolean> {
    const r = this.#rollout;
    if (!this.#d.startCheck || r.phase !== 'forward' || r.run !== 1 || r.deadline_at !== null) return true;
    const verdict = await this.#d.startCheck(r, this.#d.workerId);
    if (verdict.start) {
      this.#rollout = verdict.rollout;
      return true;
    }
    this.finishing = true;
    this.#log.info({ outcome: verdict.outcome }, 'rollout not started: its decision no longer holds');
    if (verdict.outcome !== 'lost') this.#d.onReport();
    return false;
  }

  // ---- forward: the DAG --------------------------------------------------------------------

  async #runForward(workflow: WorkflowDefinition): Promise<ForwardEnd> {
    const id = this.#rollout.id;
    const worker = this.#d.workerId;
    const steps = workflow.steps;
    let rows = new Map((await this.#d.reads.steps(id)).map((s) => [s.step_id, s]));
    const missing = steps.filter((s) => !rows.has(s.id));
    if (missing.length > 0) {
      // the workflow gained steps since the rollout was planned: plan them now
      await this.#d.steps.addSteps(id, missing.map((s) => s.id), rows.size);
      rows = new Map((await this.#d.reads.steps(id)).map((s) => [s.step_id, s]));
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
          await this.#d.steps.markSteps(id, stepsIn(steps, status, 'waiting'), worker, ['waiting'], 'cancelled', { note });
          await this.#d.steps.markSteps(id, stepsIn(steps, status, 'pending'), worker, ['pending', 'running'], 'skipped', { note });
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
        await this.#steps.audited(
          (store) => store.markSteps(id, [stepId], worker, ['waiting'], 'failed', { error }),
          ([r]) => r && this.#steps.stepEvent('step-finished', r, `step ${stepId} failed: ${error}`, { status: r.status, error }),
        );
        status.set(stepId, 'failed');
        failure ??= stepFailure(stepId, error);
      }
      // a step whose needs cannot succeed any more is skipped (again after the writes: a running step may have ended meanwhile)
      for (let skips = skippedSteps(steps, status); skips.length > 0; skips = skippedSteps(steps, status)) {
        for (const { stepId, note } of skips) {
          await this.#d.steps.markSteps(id, [stepId], worker, ['pending', 'running'], 'skipped', { note });
          status.set(stepId, 'skipped');
        }
      }
      // one at a time, planned afresh: each start waits on the database, and steps end meanwhile
      // a step a closed window holds back (windows_apply: every_step) is left pending; the loop looks again
      const startable = async () => {
        for (const candidate of readySteps(steps, status, running.size, workflow.max_parallel)) {
          if (candidate.as === 'gate') return candidate;
          if (await this.#reopenedStaleGates(candidate.step, byId, status, gateDeadline)) continue;
          if (!(await this.#heldByWindow(candidate.step, byId))) return candidate;
        }
        return undefined;
      };
      for (let next = await startable(); next && failure === undefined && !this.#r.stopping; next = await startable()) {
        const step = next.step;
        if (next.as === 'gate') {
          const gate = step.approval!;
          const waitingFor = `waiting for approval by ${gate.roles.join(' or ')}`;
          const row = await this.#steps.audited(
            (store) => store.waitAtGate(id, step.id, worker, parseDuration(gate.timeout)!, waitingFor),
            (r) => r && this.#steps.stepEvent('step-started', r, `step ${step.id} started: ${waitingFor} until ${r.deadline_at?.toISOString()}`, { deadline: r.deadline_at }),
          );
          if (!row) return this.#lost();
          status.set(step.id, 'waiting');
          gateDeadline.set(step.id, row.deadline_at?.getTime() ?? Infinity);
          await this.#d.messages.atGate(this.#rollout, step.id, gate.roles, row.deadline_at ?? new Date());
          this.#d.onReport();
          continue;
        }
        status.set(step.id, 'running');
        const task = this.#steps.run(step.id, stepKind(step), step, rows.get(step.id)!, this.#forward.signal);
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
        await this.#d.steps.markSteps(id, state.waiting, worker, ['waiting'], 'cancelled', { note: 'the rollout failed before this gate was passed' });
        await this.#d.steps.markSteps(id, state.pending, worker, ['pending', 'running'], 'skipped', { note: 'an earlier step failed' });
        return { kind: 'failed', outcome: state.outcome };
      }
      if (state.kind === 'succeeded') return { kind: 'succeeded' };
      if (state.kind === 'at-gates' && !this.#r.stopping) {
        // only approvals can move this rollout on: give the worker back until one comes
        const wakeAt = parkedUntil(this.#deadline, state.gates, gateDeadline);
        if (await this.#d.leases.park(id, worker, state.gates, wakeAt)) {
          this.#log.info({ gates: state.gates, wakeAt }, 'rollout parked at approval gates');
          return { kind: 'parked' };
        }
      }
      await this.#wakeUp.next(this.#r.pollMs);
      if (stepsIn(steps, status, 'waiting').length > 0) {
        for (const row of await this.#d.reads.steps(id)) {
          if (status.get(row.step_id) === 'waiting' && row.status !== 'waiting') status.set(row.step_id, row.status);
        }
      }
    }
  }

  /**
   * Opens again the gates before `step` whose approval is older than their `approval.max_age`
   * (the step was held back meanwhile, e.g. by a window): they wait for a new approval, and the
   * change is told. Returns whether any was opened (the step then waits).
   */
  async #reopenedStaleGates(
    step: WorkflowDefinition['steps'][number],
    byId: ReadonlyMap<string, WorkflowDefinition['steps'][number]>,
    status: Map<string, StepStatus>,
    gateDeadline: Map<string, number>,
  ): Promise<boolean> {
    if (!step.needs.some((id) => byId.get(id)?.approval?.max_age !== undefined)) return false;
    const passedAt = new Map((await this.#d.reads.steps(this.#rollout.id)).map((r) => [r.step_id, r.status === 'succeeded' ? r.finished_at : null]));
    const stale = staleGateApprovals(step, byId, passedAt, this.#d.now?.() ?? new Date());
    for (const { gate, maxAge } of stale) {
      const approval = byId.get(gate)!.approval!;
      const note = `the approval is older than max_age ${maxAge}: waiting again for approval by ${approval.roles.join(' or ')}`;
      const reopened = await this.#d.leases.reopenGate(this.#rollout.id, gate, this.#d.workerId, parseDuration(approval.timeout)!, note);
      if (!reopened) continue;
      status.set(gate, 'waiting');
      gateDeadline.set(gate, reopened.deadline.getTime());
      this.#log.info({ gate, maxAge }, 'gate approval too old: the gate waits again');
      await this.#d.messages.gateAgain(this.#rollout, gate, approval.roles, maxAge, reopened.deadline);
      this.#d.onReport();
    }
    return stale.length > 0;
  }

  /** Whether the rule's windows hold this step back now; says so on the change once per step. */
  async #heldByWindow(step: WorkflowDefinition['steps'][number], byId: ReadonlyMap<string, WorkflowDefinition['steps'][number]>): Promise<boolean> {
    const rule = this.#d.policy().rollouts.find((r) => r.name === this.#rollout.rule);
    const reason = windowHoldsStep(rule, step, byId, this.#rollout.reasons as Reason[], this.#d.now?.() ?? new Date());
    if (reason === undefined) return false;
    if (!this.#windowSaid.has(step.id)) {
      this.#windowSaid.add(step.id);
      this.#log.info({ step: step.id, window: reason }, 'step held back by a closed window');
      await this.#d.messages.waitingForWindow(this.#rollout, step.id, reason);
      this.#d.onReport();
    }
    return true;
  }

  #lost(): ForwardEnd {
    this.abort('lost');
    return { kind: 'stopped' };
  }

  // ---- rollback ----------------------------------------------------------------------------

  /** Runs the planned rollback steps one by one; a failed one does not stop the others. */
  async #runRollback(workflow: WorkflowDefinition): Promise<'ok' | 'failed' | 'none' | 'released'> {
    const plan = (await this.#d.reads.steps(this.#rollout.id)).filter((s) => isRollbackStep(s.step_id));
    if (plan.length === 0) return 'none';
    let failed = plan.some((s) => s.status === 'failed');
    for (const row of plan) {
      if (row.status !== 'pending' && row.status !== 'running') continue;
      if (this.#all.signal.aborted || this.#r.stopping) return 'released';
      const def = rollbackDefinition(workflow, row.step_id);
      if (!def) {
        await this.#d.steps.markSteps(this.#rollout.id, [row.step_id], this.#d.workerId, ['pending', 'running'], 'failed', { error: 'no longer in the workflow' });
        failed = true;
        continue;
      }
      const end = await this.#steps.run(row.step_id, stepKind(def), def, row, this.#all.signal);
      if (end.status === 'running') return 'released';
      if (end.status !== 'succeeded') failed = true;
    }
    return failed ? 'failed' : 'ok';
  }

  // ---- the end -----------------------------------------------------------------------------

  async #finish(status: 'succeeded' | 'failed' | 'rolled_back' | 'cancelled', outcome: string | null): Promise<void> {
    this.finishing = true;
    // under the lease the steps are as they ended; the message's total counts from the first start
    // on this process's clock (the row's own end time is only known once the statement ran)
    const steps = (await this.#d.reads.steps(this.#rollout.id)).map(stepSummary);
    const took = Math.max(0, Math.round(performance.now() - this.#startedAt));
    const end = { status, outcome: outcome === null ? null : redact(outcome, this.#secrets) };
    // the end and its report are one statement: a crash cannot leave a finished rollout unreported
    const ended = await this.#d.leases.finish(this.#rollout.id, status, this.#d.workerId, outcome, (finished) =>
      this.#d.messages.finishedSql(this.#rollout, status === 'succeeded', took, steps, end, finished),
    );
    if (!ended) return; // another worker took it over; it will report
    const total = (ended.finished_at?.getTime() ?? Date.now()) - (ended.started_at?.getTime() ?? Date.now());
    this.#d.metrics?.rolloutFinished(status, total);
    this.#d.onReport();
    if (status === 'succeeded') this.#d.onSucceeded?.(ended);
    this.#log.info({ status, outcome, ms: total, took: formatDuration(total) }, 'rollout finished');
  }

  async #release(): Promise<void> {
    await this.#d.leases.release(this.#rollout.id, this.#d.workerId);
    this.#log.info({ reason: this.#stopReason }, 'rollout released for another worker to resume');
  }
}
