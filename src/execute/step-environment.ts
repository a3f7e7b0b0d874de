import type { RolloutRow } from '../db/schema.js';
import { interpolate, type Variables } from '../policy/interpolate.js';
import type { WorkflowDefinition } from '../policy/workflow-config.js';

/** What a step sees of its rollout: the `${…}` variables of its workflow, and rollgate's variables in its environment. */

/** The values a workflow may refer to; all are plain strings placed into argv elements or JSON strings. */
export function workflowVariables(rollout: RolloutRow, workflow: WorkflowDefinition, env: Readonly<Record<string, string>>, previousRev: string | undefined): Variables {
  const builtins: Record<string, string> = {
    'change.project': rollout.project,
    'change.branch': rollout.branch,
    'change.number': String(rollout.change_number),
    'change.subject': rollout.subject,
    patchset: String(rollout.patchset),
    revision: rollout.revision,
    newRev: rollout.new_rev ?? rollout.revision,
    'rollout.id': String(rollout.id),
    'rollout.rule': rollout.rule,
    'rollout.environment': rollout.environment,
    'rollout.previous_rev': previousRev ?? '',
  };
  for (const [k, v] of Object.entries(env)) builtins[`env.${k}`] = v;
  for (const [name, template] of Object.entries(workflow.params)) builtins[`params.${name}`] = interpolate(template, builtins);
  return builtins;
}

/** Whether the workflow refers to the previous rollout's revision (worth a query only then). */
export function usesPreviousRev(workflow: WorkflowDefinition): boolean {
  return JSON.stringify(workflow).includes('rollout.previous_rev');
}

/** The key a step's attempts share, so a deploy API can tell a retry (or a resumed step) from a new request. */
export function idempotencyKey(rolloutId: number, stepId: string): string {
  return `rollgate-${rolloutId}-${stepId}`;
}

/**
 * rollgate's own variables in a step's environment; `resumed` marks an attempt that re-runs the
 * step after its worker died or stopped while it ran (the earlier attempt may have done the work).
 */
export function stepEnv(rollout: RolloutRow, stepId: string, key: string, attempt: number, resumed = false): Record<string, string> {
  return {
    ...(resumed ? { ROLLGATE_RESUMED: '1' } : {}),
    ROLLGATE_ROLLOUT_ID: String(rollout.id),
    ROLLGATE_STEP_ID: stepId,
    ROLLGATE_IDEMPOTENCY_KEY: key,
    ROLLGATE_ATTEMPT: String(attempt),
    ROLLGATE_RULE: rollout.rule,
    ROLLGATE_ENVIRONMENT: rollout.environment,
    ROLLGATE_CHANGE_PROJECT: rollout.project,
    ROLLGATE_CHANGE_BRANCH: rollout.branch,
    ROLLGATE_CHANGE_NUMBER: String(rollout.change_number),
    ROLLGATE_PATCHSET: String(rollout.patchset),
    ROLLGATE_REVISION: rollout.revision,
    ROLLGATE_NEW_REV: rollout.new_rev ?? rollout.revision,
  };
}
