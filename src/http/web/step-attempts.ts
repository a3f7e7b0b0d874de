import type { StepAttemptRow, StepRow } from '../../db/schema.js';
import type { OutputChunk } from '../../rollouts/step-output-store.js';
import { badge, duration, utc } from './format.js';
import { html, type Html } from './html.js';

/** A rollout's attempts and the stored output the page shows of each (its newest part). */
export interface AttemptsView {
  readonly rolloutId: number;
  readonly attempts: readonly StepAttemptRow[];
  readonly chunks: readonly OutputChunk[];
}

/**
 * Every attempt of a step, newest last: how it ended, when, on which worker, and its output as
 * stored while it ran. The page's script appends output that comes later to the `pre` of its
 * attempt (`data-output`); a running attempt and the one a failed step ended with are open.
 * A step recorded before attempts were kept shows its output tail as before.
 */
export function stepAttempts(row: StepRow, view: AttemptsView | undefined): Html {
  const attempts = view?.attempts.filter((a) => a.step_id === row.step_id) ?? [];
  if (attempts.length === 0) {
    return row.output_tail ? html`<details${row.status === 'failed' ? html` open` : ''}><summary>output</summary><pre>${row.output_tail}</pre></details>` : html``;
  }
  const last = attempts.at(-1)!;
  return html`<ol class="attempts">${attempts.map((a) => attemptItem(a, view!, a === last && (a.status === 'running' || row.status === 'failed')))}</ol>`;
}

function attemptItem(a: StepAttemptRow, view: AttemptsView, open: boolean): Html {
  const chunks = view.chunks.filter((c) => c.step_id === a.step_id && c.number === a.number);
  const text = chunks.map((c) => c.text).join('');
  // earlier output exists than the page shows: it was dropped (the bound), or is only in the whole output
  const cut = (chunks[0]?.offset ?? 0) > 0;
  const took = a.finished_at ? duration(a.finished_at.getTime() - a.started_at.getTime()) : null;
  const facts = [
    `started ${utc(a.started_at)}`,
    took !== null ? `took ${took}` : null,
    a.exit_code !== null ? `exit code ${a.exit_code}` : null,
    a.http_status !== null ? `HTTP ${a.http_status}` : null,
    `worker ${a.worker}`,
  ].filter((f): f is string => f !== null);
  const link = `/api/rollouts/${view.rolloutId}/steps/${encodeURIComponent(a.step_id)}/attempts/${a.number}/output`;
  return html`<li class="attempt status-${a.status}" data-attempt="${a.number}">
<details${open ? html` open` : ''}><summary>attempt ${a.number} ${badge(a.status)} <span class="facts">${facts.join(' · ')}</span></summary>
${a.status === 'interrupted' ? html`<p class="note">Its worker stopped or lost the rollout while it ran; the step ran again as a new attempt.</p>` : ''}
${a.error ? html`<p class="error">${a.error}</p>` : ''}
${cut ? html`<p class="note">Earlier output is not shown here: <a href="${link}">the whole output</a>.</p>` : ''}
<pre class="output" data-output="${a.step_id}#${a.number}">${text}</pre>
</details>
</li>`;
}
