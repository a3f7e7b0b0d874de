import type { StepRow } from '../../db/schema.js';
import type { WorkflowDefinition } from '../../policy/workflow-config.js';
import { badge, duration } from './format.js';
import { html, type Html } from './html.js';
import { stepAttempts, type AttemptsView } from './step-attempts.js';

/** A step's place in the picture: its row (the state) and what it needs (from the workflow). */
interface PlacedStep {
  readonly row: StepRow;
  readonly needs: readonly string[];
}

/**
 * The workflow's steps as a layered DAG: a step sits one column right of the last step it
 * needs, so steps that may run at the same time share a column and the graph reads left to right.
 * The state is the database's (`rollout_steps`); `needs` come from the workflow in the policy.
 * Undo and rollback steps, which run only when the rollout rolls back, follow in their own lane.
 */
export function stepDag(rows: readonly StepRow[], workflow: WorkflowDefinition | undefined, attempts?: AttemptsView): Html {
  const card = (s: PlacedStep) => stepCard(s, attempts);
  const isRollback = (id: string) => id.startsWith('undo:') || id.startsWith('rollback:');
  const forward = rows.filter((r) => !isRollback(r.step_id)).map((row) => ({ row, needs: workflow?.steps.find((s) => s.id === row.step_id)?.needs ?? [] }));
  const rollback = rows.filter((r) => isRollback(r.step_id));
  if (rows.length === 0) return html`<p class="empty">No steps planned.</p>`;
  const columns = layers(forward).map((layer, i) => html`<li class="layer"><h3>${i === 0 ? 'start' : `then`}</h3><ol class="steps">${layer.map(card)}</ol></li>`);
  return html`<ol class="dag">${columns}</ol>
${rollback.length > 0 ? html`<h3>Rollback</h3><ol class="dag rollback"><li class="layer"><ol class="steps">${rollback.map((row) => card({ row, needs: [] }))}</ol></li></ol>` : ''}`;
}

/** Groups steps by depth: 0 for steps that need nothing, else one more than the deepest need. */
function layers(steps: readonly PlacedStep[]): PlacedStep[][] {
  const byId = new Map(steps.map((s) => [s.row.step_id, s]));
  const depth = new Map<string, number>();
  const depthOf = (s: PlacedStep, seen: ReadonlySet<string>): number => {
    const known = depth.get(s.row.step_id);
    if (known !== undefined) return known;
    // a need the rollout has no row for (the workflow changed since) does not move the step
    const needed = s.needs.map((n) => byId.get(n)).filter((n): n is PlacedStep => n !== undefined && !seen.has(n.row.step_id));
    const d = needed.length === 0 ? 0 : 1 + Math.max(...needed.map((n) => depthOf(n, new Set([...seen, s.row.step_id]))));
    depth.set(s.row.step_id, d);
    return d;
  };
  const out: PlacedStep[][] = [];
  for (const s of steps) (out[depthOf(s, new Set())] ??= []).push(s);
  return out.filter((layer) => layer !== undefined);
}

function stepCard({ row, needs }: PlacedStep, attempts: AttemptsView | undefined): Html {
  const facts: Array<readonly [string, string | number | null]> = [
    ['needs', needs.length > 0 ? needs.join(', ') : null],
    ['attempts', row.attempts],
    ['exit code', row.exit_code],
    ['HTTP', row.http_status],
    ['duration', duration(row.duration_ms)],
  ];
  return html`<li class="step status-${row.status}" data-step="${row.step_id}" data-status="${row.status}" data-attempts="${row.attempts}">
<div class="step-head"><span class="step-id">${row.step_id}</span>${row.kind ? html` <span class="kind">${row.kind}</span>` : ''} ${badge(row.status)}</div>
<dl>${facts.map(([k, v]) => v !== null && html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>
${row.note ? html`<p class="note">${row.note}</p>` : ''}
${row.error ? html`<p class="error">${row.error}</p>` : ''}
${stepAttempts(row, attempts)}
</li>`;
}
