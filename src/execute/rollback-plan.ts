import type { StepRow } from '../db/schema.js';
import { stepKind, type StepWork, type WorkflowDefinition } from '../policy/workflow-config.js';

/**
 * What a rollback runs, decided from the forward run's recorded steps. Pure: the runner stores the
 * plan as rollout steps (so a resumed rollback follows the same plan) and runs them in order.
 */

/** A rollback step's id says what it is: `undo:<step>` undoes a forward step, `rollback:<id>` is a workflow `rollback` step. */
export function isRollbackStep(stepId: string): boolean {
  return stepId.startsWith('undo:') || stepId.startsWith('rollback:');
}

export interface PlannedRollbackStep {
  readonly stepId: string;
  readonly kind: string;
  readonly note: string | null;
}

/** Undo of each completed step, most recently finished first, then the workflow's `rollback` steps in file order. */
export function rollbackPlan(workflow: WorkflowDefinition, rows: readonly Pick<StepRow, 'step_id' | 'status' | 'finished_at' | 'position'>[]): PlannedRollbackStep[] {
  const undone = rows
    .filter((s) => s.status === 'succeeded' && !isRollbackStep(s.step_id))
    .map((row) => ({ row, undo: workflow.steps.find((d) => d.id === row.step_id)?.undo }))
    .flatMap(({ row, undo }) => (undo === undefined ? [] : [{ row, undo }]))
    .sort((a, b) => (b.row.finished_at?.getTime() ?? 0) - (a.row.finished_at?.getTime() ?? 0) || b.row.position - a.row.position);
  return [
    ...undone.map((s) => ({ stepId: `undo:${s.row.step_id}`, kind: stepKind(s.undo), note: `undoes ${s.row.step_id}` })),
    ...workflow.rollback.map((s) => ({ stepId: `rollback:${s.id}`, kind: stepKind(s), note: null })),
  ];
}

/** What a planned rollback step runs; undefined when the workflow no longer has it. */
export function rollbackDefinition(workflow: WorkflowDefinition, stepId: string): StepWork | undefined {
  return stepId.startsWith('undo:') ? workflow.steps.find((s) => `undo:${s.id}` === stepId)?.undo : workflow.rollback.find((s) => `rollback:${s.id}` === stepId);
}

/** How a rollout ends after its rollback: nothing to roll back after a cancel is "cancelled", not a failure. */
export function rollbackEnd(result: 'ok' | 'failed' | 'none', cancelled: boolean): 'rolled_back' | 'cancelled' | 'failed' {
  return result === 'ok' ? 'rolled_back' : result === 'none' && cancelled ? 'cancelled' : 'failed';
}
