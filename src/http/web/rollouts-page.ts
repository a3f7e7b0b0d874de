import { ROLLOUT_STATUSES, type RolloutRow } from '../../db/schema.js';
import { filterForm } from './filter-form.js';
import { age, badge, changeLink, shortRevision } from './format.js';
import { html, type Html } from './html.js';
import { page, type Viewer } from './layout.js';

export interface RolloutsPageInput {
  readonly viewer: Viewer;
  readonly rows: readonly RolloutRow[];
  /** The filter as typed, to fill the form again (also when it was not valid). */
  readonly form: { readonly status?: string; readonly project?: string; readonly change?: string };
  /** What is wrong with the filter, in words; the table is then empty. */
  readonly problem: string | undefined;
  readonly gerritUrl: string | undefined;
  readonly now: Date;
}

/** `GET /rollouts`: recent rollouts, newest first, with a filter form (a plain GET form). */
export function rolloutsPage(p: RolloutsPageInput): Html {
  const body = html`<h1>Rollouts</h1>
${filterForm('/rollouts', [
    { kind: 'choice', label: 'Status', name: 'status', values: ROLLOUT_STATUSES, value: p.form.status },
    { kind: 'text', label: 'Project', name: 'project', value: p.form.project, placeholder: 'payments/api' },
    { kind: 'text', label: 'Change', name: 'change', value: p.form.change, numeric: true },
  ])}
${p.problem !== undefined ? html`<p class="problem" role="alert">Bad filter: ${p.problem}</p>` : ''}
${p.rows.length === 0 && p.problem === undefined ? html`<p class="empty">No rollouts match.</p>` : ''}
${p.rows.length > 0 ? table(p) : ''}`;
  return page({ title: 'Rollouts', viewer: p.viewer, body });
}

function table(p: RolloutsPageInput): Html {
  const rows = p.rows.map(
    (r) => html`<tr data-rollout="${r.id}">
<td><a href="/rollouts/${r.id}">#${r.id}</a></td>
<td>${badge(r.status)}</td>
<td>${r.rule}</td>
<td>${r.environment}</td>
<td>${changeLink(p.gerritUrl, r.project, r.change_number)}<div class="subject">${r.subject}</div></td>
<td>${shortRevision(r.revision)}</td>
<td>${age(r.created_at, p.now)}</td>
</tr>`,
  );
  return html`<table class="rollouts">
<thead><tr><th>Rollout</th><th>Status</th><th>Rule</th><th>Environment</th><th>Change</th><th>Revision</th><th>Age</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
}
