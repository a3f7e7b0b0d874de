import type { RolloutRow } from '../db/schema.js';
import type { Policy } from '../policy/policy-config.js';
import type { OperatorRequestStore } from '../rollouts/operator-request-store.js';
import type { RolloutReads } from '../rollouts/rollout-reads.js';
import { actRequestFor, whoMayAct, type Actor, type OperationResult } from '../policy/who-may-act.js';

/**
 * What operators do to a rollout after it was decided: pass an approval gate, retry a failed
 * rollout, cancel one, roll back a finished one. Comment commands (`/rollout approve|retry|cancel|
 * rollback`) and the HTTP API call these after asking `whoMayAct`; an approval gate asks it
 * again here, for the gates waiting at that moment. Each is one conditional update, so two people acting at
 * once get one effect and one explanation, and each wakes the runner.
 */
export interface OperationDeps {
  readonly reads: RolloutReads;
  readonly requests: OperatorRequestStore;
  readonly policy: () => Policy;
  /** Wakes the runner: a passed gate or a requeued rollout is picked up at once, a cancel seen at once. */
  readonly wake: () => void;
}

const who = (a: Actor) => a.username ?? `account ${a.accountId}`;

/**
 * Passes the approval steps a rollout is waiting at that this actor may pass. Who may is
 * `whoMayAct`'s call (a gate's roles; its author only where the rule lets authors approve), asked
 * again here with the steps as they are now, since the caller looked a moment ago.
 */
export async function approveGate(deps: OperationDeps, rolloutId: number, actor: Actor, justification: string): Promise<OperationResult> {
  const rollout = await deps.reads.get(rolloutId);
  if (!rollout) return { ok: false, message: `rollgate: there is no rollout #${rolloutId}.` };
  if (justification.trim() === '') return { ok: false, message: `rollgate: an approval needs a justification: /rollout approve <why>.` };
  const request = actRequestFor(deps.policy(), rollout, await deps.reads.steps(rolloutId), {
    verb: 'approve',
    source: actor.source ?? 'api',
    actor: { display: who(actor), relation: actor.relation ?? 'unknown', roles: actor.roles },
  });
  const gates = request.waitingGates;
  if (gates.length === 0) {
    return { ok: false, message: `rollgate: rollout #${rolloutId} (${rollout.rule}) is ${describe(rollout)}; it is not waiting at an approval gate.` };
  }
  const verdict = whoMayAct(request);
  if (!verdict.allowed) return { ok: false, forbidden: verdict.refusal === 'forbidden', message: `rollgate: ${verdict.message}` };
  const passed: string[] = [];
  for (const stepId of verdict.gates) {
    const held = actor.roles.filter((r) => gates.find((g) => g.stepId === stepId)!.roles.includes(r));
    const note = `approved by ${who(actor)} (${held.join(', ')}): ${justification.trim()}`;
    if (await deps.requests.passGate(rolloutId, stepId, note)) passed.push(stepId);
  }
  if (passed.length > 0) {
    deps.wake();
    return { ok: true, message: `rollgate: ${who(actor)} passed the approval gate ${passed.join(', ')} of rollout #${rolloutId} (${rollout.rule}); it goes on.` };
  }
  return { ok: false, message: `rollgate: rollout #${rolloutId} is no longer waiting at that gate (already approved, timed out or cancelled).` };
}

/** Runs a failed rollout again from the step that failed; steps that succeeded (and were not undone) are kept. */
export async function retryRollout(deps: OperationDeps, rolloutId: number, actor: Actor, reason: string): Promise<OperationResult> {
  const row = await deps.requests.requeue(rolloutId, 'forward', ['failed', 'rolled_back'], `retry requested by ${who(actor)}${reason.trim() ? `: ${reason.trim()}` : ''}`);
  if (!row) return refusal(deps, rolloutId, 'retried', 'only a failed or rolled back rollout can be retried');
  deps.wake();
  return { ok: true, message: `rollgate: rollout #${rolloutId} (${row.rule}) will run again from its failed step (run ${row.run}), after any rollout ahead of it in ${row.environment}.` };
}

/** Stops a rollout and runs its rollback; a rollout that has not started just ends cancelled. */
export async function cancelRollout(deps: OperationDeps, rolloutId: number, actor: Actor, reason: string): Promise<OperationResult> {
  const outcome = `cancelled by ${who(actor)}${reason.trim() ? `: ${reason.trim()}` : ''}`;
  const result = await deps.requests.requestCancel(rolloutId, outcome);
  switch (result) {
    case 'missing':
      return { ok: false, message: `rollgate: there is no rollout #${rolloutId}.` };
    case 'cancelled':
      return { ok: true, message: `rollgate: rollout #${rolloutId} is cancelled; it had not started, so nothing ran.` };
    case 'requested':
      deps.wake();
      return { ok: true, message: `rollgate: rollout #${rolloutId} is being stopped; its rollback runs next.` };
    case 'already':
      return { ok: false, message: `rollgate: rollout #${rolloutId} is already stopping or rolling back.` };
    case 'finished':
      return refusal(deps, rolloutId, 'cancelled', 'it has already finished');
  }
}

/** Runs the rollback (undo of completed steps, then the rollback steps) of a finished rollout. */
export async function rollbackRollout(deps: OperationDeps, rolloutId: number, actor: Actor, reason: string): Promise<OperationResult> {
  const rollout = await deps.reads.get(rolloutId);
  if (!rollout) return { ok: false, message: `rollgate: there is no rollout #${rolloutId}.` };
  const workflow = deps.policy().workflows[rollout.workflow];
  if (workflow && workflow.rollback.length === 0 && !workflow.steps.some((s) => s.undo)) {
    return { ok: false, message: `rollgate: workflow ${workflow.name} has no rollback or undo steps, so rollout #${rolloutId} cannot be rolled back by rollgate.` };
  }
  const row = await deps.requests.requeue(rolloutId, 'rollback', ['succeeded', 'failed'], `rollback requested by ${who(actor)}${reason.trim() ? `: ${reason.trim()}` : ''}`);
  if (!row) return refusal(deps, rolloutId, 'rolled back', 'only a finished (succeeded or failed) rollout can be rolled back; cancel a running one');
  deps.wake();
  return { ok: true, message: `rollgate: rollout #${rolloutId} (${row.rule}) will be rolled back in ${row.environment}, after any rollout running there.` };
}

async function refusal(deps: OperationDeps, rolloutId: number, verb: string, rule: string): Promise<OperationResult> {
  const now = await deps.reads.get(rolloutId);
  if (!now) return { ok: false, message: `rollgate: there is no rollout #${rolloutId}.` };
  return { ok: false, message: `rollgate: rollout #${rolloutId} (${now.rule}) is ${describe(now)}, so it cannot be ${verb}: ${rule}.` };
}

function describe(r: RolloutRow): string {
  return r.status.replace('_', ' ');
}

/** The operations bound to their dependencies, in the shape the decide stage's comment commands call. */
export function bindOperations(deps: OperationDeps) {
  return {
    approveGate: (rolloutId: number, actor: Actor, justification: string) => approveGate(deps, rolloutId, actor, justification),
    retry: (rolloutId: number, actor: Actor, reason: string) => retryRollout(deps, rolloutId, actor, reason),
    rollback: (rolloutId: number, actor: Actor, reason: string) => rollbackRollout(deps, rolloutId, actor, reason),
    cancel: (rolloutId: number, actor: Actor, reason: string) => cancelRollout(deps, rolloutId, actor, reason),
  };
}
