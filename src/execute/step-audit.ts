import type { AuditEvent } from '../audit/audit-trail.js';
import type { RolloutRow, StepRow } from '../db/schema.js';
import { formatDuration } from '../duration.js';

/** The audit trail's record of a step starting or ending, as the runner appends it with the change it describes. */
export function stepEvent(rollout: RolloutRow, workerId: string, kind: 'step-started' | 'step-finished', row: Pick<StepRow, 'step_id' | 'kind'>, summary: string, facts: Readonly<Record<string, unknown>>): AuditEvent {
  return {
    kind,
    actor: 'rollgate',
    rolloutId: rollout.id,
    project: rollout.project,
    changeNumber: rollout.change_number,
    summary: `rollout #${rollout.id}: ${summary}`,
    data: { step: row.step_id, stepKind: row.kind, run: rollout.run, phase: rollout.phase, worker: workerId, ...facts },
  };
}

/** A finished step's one-line summary and facts: how it ended, exit code or HTTP status, time, attempts, error. */
export function stepFinished(row: StepRow): { summary: string; facts: Readonly<Record<string, unknown>> } {
  const how = [
    row.exit_code !== null ? `exit ${row.exit_code}` : null,
    row.http_status !== null ? `HTTP ${row.http_status}` : null,
    row.duration_ms !== null ? formatDuration(row.duration_ms) : null,
    row.attempts > 1 ? `${row.attempts} attempts` : null,
  ].filter(Boolean);
  return {
    summary: `step ${row.step_id} ${row.status}${how.length > 0 ? ` (${how.join(', ')})` : ''}${row.error ? `: ${row.error}` : ''}`,
    facts: { status: row.status, attempts: row.attempts, exitCode: row.exit_code, httpStatus: row.http_status, durationMs: row.duration_ms, error: row.error },
  };
}
