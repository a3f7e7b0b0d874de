import { parseDuration } from '../duration.js';
import type { Reason } from './decide.js';
import type { RolloutRule } from './policy-config.js';
import { closedWindow } from './windows.js';
import { stepKind, type StepDefinition } from './workflow-config.js';

/**
 * What may hold back a step that follows an approval gate or a wait, apart from its needs: a
 * closed window (`windows_apply: every_step`) and a gate approval past its `max_age`.
 */

/**
 * Why a rule with `windows_apply: every_step` holds a step back at `at`: the step follows an
 * approval gate or a wait step and the rule's windows are closed. Undefined when it may start:
 * windows checked at the start only, a step after neither, windows open, or break glass given
 * for the rollout (its decision's reasons say so), which overrides the window here too.
 */
export function windowHoldsStep(
  rule: RolloutRule | undefined,
  step: Pick<StepDefinition, 'needs'>,
  stepsById: ReadonlyMap<string, Pick<StepDefinition, 'run' | 'http' | 'approval' | 'wait'>>,
  decisionReasons: readonly Reason[],
  at: Date,
): string | undefined {
  if (!rule || rule.windows_apply !== 'every_step') return undefined;
  const afterGateOrWait = step.needs.some((id) => {
    const need = stepsById.get(id);
    return need !== undefined && ['approval', 'wait'].includes(stepKind(need));
  });
  if (!afterGateOrWait) return undefined;
  if (decisionReasons.some((r) => r.code === 'break-glass')) return undefined;
  return closedWindow(rule.windows, at)?.reason;
}

/**
 * The approval gates `step` needs whose approval is older than the gate's `approval.max_age` at
 * `at` (from when each was passed): they must be approved again before the step starts.
 */
export function staleGateApprovals(
  step: Pick<StepDefinition, 'needs'>,
  stepsById: ReadonlyMap<string, Pick<StepDefinition, 'approval'>>,
  passedAt: ReadonlyMap<string, Date | null>,
  at: Date,
): Array<{ readonly gate: string; readonly maxAge: string }> {
  return step.needs.flatMap((id) => {
    const maxAge = stepsById.get(id)?.approval?.max_age;
    const passed = passedAt.get(id);
    if (maxAge === undefined || !passed) return [];
    return at.getTime() - passed.getTime() > parseDuration(maxAge)! ? [{ gate: id, maxAge }] : [];
  });
}
