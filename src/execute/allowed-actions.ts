import type { RolloutRow, StepRow } from '../db/schema.js';
import type { Policy } from '../decide/policy-config.js';
import { ruleActionRoles } from '../decide/rule-roles.js';
import { stepKind } from './workflow-config.js';

export const ROLLOUT_ACTIONS = ['approve', 'deny', 'cancel', 'retry', 'rollback'] as const;
export type RolloutAction = (typeof ROLLOUT_ACTIONS)[number];

/**
 * What someone holding `roles` may do to a rollout in its current state:
 * - held: approve or deny, with one of the rule's approval or break-glass roles;
 * - waiting at an approval gate: approve with one of the gate's roles, deny (stop and roll back)
 *   with one of the gate's or the rule's roles;
 * - queued, running or parked at a gate: cancel; failed or rolled back: retry; succeeded or
 *   failed (with something to roll back): rollback; each with one of the rule's roles.
 * The web page shows buttons for these only; the operations re-check state and roles when asked.
 */
export function allowedActions(policy: Policy, rollout: RolloutRow, steps: readonly StepRow[], roles: readonly string[]): RolloutAction[] {
  const holds = (needed: readonly string[]) => needed.some((r) => roles.includes(r));
  const rule = policy.rollouts.find((r) => r.name === rollout.rule);
  const workflow = policy.workflows[rollout.workflow];
  const byRule = holds(ruleActionRoles(rule));
  const gateRoles = steps
    .filter((s) => s.status === 'waiting')
    .flatMap((s) => workflow?.steps.find((d) => d.id === s.step_id && stepKind(d) === 'approval')?.approval?.roles ?? []);
  const atGate = gateRoles.length > 0 && (rollout.status === 'waiting' || rollout.status === 'running');
  const canRollBack = workflow !== undefined && (workflow.rollback.length > 0 || workflow.steps.some((s) => s.undo));

  const allowed: RolloutAction[] = [];
  if ((rollout.status === 'held' && byRule) || (atGate && holds(gateRoles))) allowed.push('approve');
  // stopping at a gate is the gate's people's call as much as the rule's
  if ((rollout.status === 'held' && byRule) || (atGate && (holds(gateRoles) || byRule))) allowed.push('deny');
  if (['queued', 'running', 'waiting'].includes(rollout.status) && byRule) allowed.push('cancel');
  if (['failed', 'rolled_back'].includes(rollout.status) && byRule) allowed.push('retry');
  if (['succeeded', 'failed'].includes(rollout.status) && byRule && canRollBack) allowed.push('rollback');
  return allowed;
}
