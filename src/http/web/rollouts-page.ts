import { ROLLOUT_STATUSES, type RolloutRow } from '../../db/schema.js';
import { filterForm } from './filter-form.js';
import { age, badge, changeLink, shortRevision } from './format.js';
import { html, type Html } from './html.js';
import { page, type Viewer } from './layout.js';

export interface RolloutsPageInput {
  readonly viewer: Viewer;
  readonly rows: readonly RolloutRow[];
  /** The filter as typed, to fill the form again (also when it was not valid) and to carry to other pages. */
  readonly form: Readonly<Record<string, string | undefined>>;
  /** What is wrong with the filter, in words; the table is then empty. */
  readonly problems: readonly string[];
  /** The rules and environments of the policy, for the filter's choices. */
  readonly rules: readonly string[];
  readonly environments: readonly string[];
  /** Whether there are rollouts matching the filter newer than the first row, or older than the last. */
  readonly newer: boolean;
  readonly older: boolean;
  readonly gerritUrl: string | undefined;
  readonly now: Date;
}

/** `GET /rollouts`: rollouts newest first, a page at a time, with a filter form (a plain GET form). */
export function rolloutsPage(p: RolloutsPageInput): Html {
  const body = html`<h1>Rollouts</h1>
${filterForm('/rollouts', [
    { kind: 'choice', label: 'Status', name: 'status', values: ROLLOUT_STATUSES, value: p.form.status },
    { kind: 'choice', label: 'Environment', name: 'environment', values: withTyped(p.environments, p.form.environment), value: p.form.environment },
    { kind: 'choice', label: 'Rule', name: 'rule', values: withTyped(p.rules, p.form.rule), value: p.form.rule },
    { kind: 'text', label: 'Project', name: 'project', value: p.form.project, placeholder: 'payments/api' },
    { kind: 'text', label: 'Change', name: 'change', value: p.form.change, numeric: true },
    { kind: 'text', label: 'Owner', name: 'owner', value: p.form.owner, placeholder: 'username or email' },
  ])}
${p.problems.length > 0 ? html`<p class="problem" role="alert">Bad filter: ${p.problems.join(' ')}</p>` : ''}
${p.rows.length === 0 && p.problems.length === 0 ? html`<p class="empty">No rollouts match.</p>` : ''}
${p.rows.length > 0 ? table(p) : ''}
${pager(p)}`;
  return page({ title: 'Rollouts', viewer: p.viewer, body });
}

/** A value typed into the query that the policy no longer has still shows as chosen. */
function withTyped(values: readonly string[], typed: string | undefined): readonly string[] {
  return typed && !values.includes(typed) ? [...values, typed] : values;
}

function pager(p: RolloutsPageInput): Html {
  const first = p.rows[0];
  const last = p.rows[p.rows.length - 1];
  if (!first || !last || (!p.newer && !p.older)) return html``;
  const filter = Object.entries(p.form).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '' && e[0] !== 'before' && e[0] !== 'after');
  const link = (extra: Record<string, string>) => `/rollouts?${new URLSearchParams([...filter, ...Object.entries(extra)]).toString()}`;
  return html`<nav class="pager" aria-label="pages">
${p.newer ? html`<a href="${link({})}">Newest</a> <a rel="prev" href="${link({ after: String(first.id) })}">Previous page (newer)</a>` : ''}
${p.older ? html`<a rel="next" href="${link({ before: String(last.id) })}">Next page (older)</a>` : ''}
</nav>`;
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
