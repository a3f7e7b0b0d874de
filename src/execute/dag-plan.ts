import type { StepStatus } from '../db/schema.js';
import { stepKind } from '../policy/workflow-config.js';

/**
 * The forward run's decisions about a workflow's steps, apart from carrying them out: which steps
 * start, which are skipped, and when the run has ended. Pure (no database, no clock, no I/O), so
 * the runner only applies them and the rules can be tested as tables.
 */

/** What the planner needs of a step: its place in the graph and its kind. */
export interface PlanStep {
  readonly id: string;
  readonly needs: readonly string[];
  readonly run?: unknown;
  readonly http?: unknown;
  readonly approval?: unknown;
  readonly wait?: unknown;
}

/** Each step's status, by id; every step of the workflow has one. */
export type StepStatuses = ReadonlyMap<string, StepStatus>;

/** A need that ended in one of these can no longer succeed, so its dependants never run. */
const BLOCKING: readonly StepStatus[] = ['failed', 'skipped', 'cancelled'];

/** A step a crashed worker left running runs again (same idempotency key), so it counts as pending. */
export function resumedStatus(stored: StepStatus): StepStatus {
  return stored === 'running' ? 'pending' : stored;
}

/** The rollout's outcome when a step failed for good. */
export function stepFailure(stepId: string, error: string | null | undefined): string {
  return `step ${stepId} failed${error ? `: ${error}` : ''}`;
}

/** The ids of the steps in `want`, in workflow order. */
export function stepsIn(steps: readonly PlanStep[], status: StepStatuses, want: StepStatus): string[] {
  return steps.filter((s) => status.get(s.id) === want).map((s) => s.id);
}

/** Waiting approval gates whose deadline has come. */
export function expiredGates(deadlines: ReadonlyMap<string, number>, status: StepStatuses, now: number): string[] {
  return [...deadlines].filter(([id, deadline]) => status.get(id) === 'waiting' && deadline <= now).map(([id]) => id);
}

/**
 * The pending steps to skip because a need failed, was skipped or was cancelled, with the note
 * each keeps; a skip propagates to the steps that need the skipped one, in the same list.
 */
export function skippedSteps(steps: readonly PlanStep[], status: StepStatuses): Array<{ stepId: string; note: string }> {
  const now = new Map(status);
  const skipped: Array<{ stepId: string; note: string }> = [];
  for (let changed = true; changed; ) {
    changed = false;
    for (const step of steps) {
      if (now.get(step.id) !== 'pending') continue;
      const blocker = step.needs.find((n) => BLOCKING.includes(now.get(n)!));
      if (blocker === undefined) continue;
      const was = now.get(blocker)!;
      skipped.push({ stepId: step.id, note: `needs ${blocker}, which ${was === 'failed' ? 'failed' : `was ${was}`}` });
      now.set(step.id, 'skipped');
      changed = true;
    }
  }
  return skipped;
}

/**
 * The pending steps whose needs all succeeded, in workflow order: approval gates always (waiting
 * takes no slot), other steps only while fewer than `maxParallel` run.
 */
export function readySteps<S extends PlanStep>(steps: readonly S[], status: StepStatuses, running: number, maxParallel: number): Array<{ step: S; as: 'gate' | 'step' }> {
  const ready: Array<{ step: S; as: 'gate' | 'step' }> = [];
  let slots = maxParallel - running;
  for (const step of steps) {
    if (status.get(step.id) !== 'pending' || !step.needs.every((n) => status.get(n) === 'succeeded')) continue;
    if (stepKind(step) === 'approval') ready.push({ step, as: 'gate' });
    else if (slots > 0) {
      ready.push({ step, as: 'step' });
      slots--;
    }
  }
  return ready;
}

/** Where the forward run stands. */
export type ForwardState =
  /** Steps are running; their ends decide what comes next. */
  | { readonly kind: 'running' }
  /** A step failed: the gates still waiting are cancelled and the pending steps skipped. */
  | { readonly kind: 'failed'; readonly outcome: string; readonly waiting: readonly string[]; readonly pending: readonly string[] }
  | { readonly kind: 'succeeded' }
  /** Only approvals can move it on. */
  | { readonly kind: 'at-gates'; readonly gates: readonly string[] }
  /** Pending steps remain that nothing started (e.g. while the worker stops). */
  | { readonly kind: 'blocked' };

/** What the run's statuses mean once the ready steps have been started; `failure` is the first failure seen. */
export function forwardState(steps: readonly PlanStep[], status: StepStatuses, running: number, failure: string | undefined): ForwardState {
  if (running > 0) return { kind: 'running' };
  const pending = stepsIn(steps, status, 'pending');
  const waiting = stepsIn(steps, status, 'waiting');
  if (failure !== undefined) return { kind: 'failed', outcome: failure, waiting, pending };
  if (pending.length === 0 && waiting.length === 0) return { kind: 'succeeded' };
  if (waiting.length > 0) return { kind: 'at-gates', gates: waiting };
  return { kind: 'blocked' };
}

/** When a rollout parked at `gates` is due again: its first gate deadline, or the workflow's. */
export function parkedUntil(workflowDeadline: number, gates: readonly string[], gateDeadlines: ReadonlyMap<string, number>): Date {
  return new Date(Math.min(workflowDeadline, ...gates.map((s) => gateDeadlines.get(s) ?? Infinity)));
}
