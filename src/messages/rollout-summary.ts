import type { RolloutRow, StepRow } from '../db/schema.js';
import type { Approver, Reason } from '../policy/decide.js';
import type { RolloutSummary, StepSummary } from './format-message.js';

/** Where a rollout is shown on rollgate, when its public URL is set: the one link every message quotes. */
export function rolloutLink(publicUrl: string | undefined, rolloutId: number): string | undefined {
  return publicUrl ? `${publicUrl.replace(/\/+$/, '')}/api/rollouts/${rolloutId}` : undefined;
}

/** Adapts stored rows to what the message formatter reads. */
export function rolloutSummary(row: RolloutRow, publicUrl: string | undefined): RolloutSummary {
  return {
    id: row.id,
    rule: row.rule,
    environment: row.environment,
    workflow: row.workflow,
    reasons: row.reasons as Reason[],
    approvers: row.approvers as Approver[],
    justification: row.justification,
    link: rolloutLink(publicUrl, row.id),
  };
}

export function stepSummary(step: StepRow): StepSummary {
  return {
    stepId: step.step_id,
    status: step.status,
    attempts: step.attempts,
    exitCode: step.exit_code,
    durationMs: step.duration_ms,
    outputTail: step.output_tail,
    error: step.error,
    httpStatus: step.http_status,
    note: step.note,
  };
}
