import type { AuditEntry } from '../../audit/audit-chain.js';
import { filterForm } from './filter-form.js';
import { age, changeLink } from './format.js';
import { html, type Html } from './html.js';
import { page, type Viewer } from './layout.js';

export interface AuditPageInput {
  readonly viewer: Viewer;
  readonly kinds: readonly string[];
  readonly entries: readonly AuditEntry[];
  /** The `after` of the following page; null at the end. */
  readonly next: number | null;
  /** The filter as typed, to fill the form again and to carry to the next page. */
  readonly form: { readonly kind?: string; readonly rollout?: string };
  readonly problem: string | undefined;
  readonly gerritUrl: string | undefined;
  readonly now: Date;
}

/** `GET /audit`: the hash-chained audit trail, oldest first, a page at a time, by kind or rollout. */
export function auditPage(p: AuditPageInput): Html {
  const nextQuery = p.next === null ? undefined : new URLSearchParams({ ...definedOnly(p.form), after: String(p.next) }).toString();
  const body = html`<h1>Audit trail</h1>
<p class="note">Oldest first. Each entry's hash covers the entry before it; <code>rollgate audit verify</code> checks the whole chain.</p>
${filterForm('/audit', [
    { kind: 'choice', label: 'Kind', name: 'kind', values: p.kinds, value: p.form.kind },
    { kind: 'text', label: 'Rollout', name: 'rollout', value: p.form.rollout, numeric: true },
  ])}
${p.problem !== undefined ? html`<p class="problem" role="alert">Bad filter: ${p.problem}</p>` : ''}
${p.entries.length === 0 && p.problem === undefined ? html`<p class="empty">No entries.</p>` : ''}
${p.entries.length > 0 ? table(p) : ''}
${nextQuery !== undefined ? html`<p class="pager"><a rel="next" href="/audit?${nextQuery}">Next page</a></p>` : ''}`;
  return page({ title: 'Audit trail', viewer: p.viewer, body });
}

function definedOnly(form: AuditPageInput['form']): Record<string, string> {
  return Object.fromEntries(Object.entries(form).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
}

function table(p: AuditPageInput): Html {
  const rows = p.entries.map(
    (e) => html`<tr data-entry="${e.id}">
<td>${e.id}</td>
<td>${age(new Date(e.at), p.now)}</td>
<td><span class="badge">${e.kind}</span></td>
<td>${e.actor}</td>
<td>${e.rolloutId !== null ? html`<a href="/rollouts/${e.rolloutId}">#${e.rolloutId}</a>` : '—'}</td>
<td>${e.project !== null && e.changeNumber !== null ? changeLink(p.gerritUrl, e.project, e.changeNumber) : '—'}</td>
<td class="summary">${e.summary}<details><summary>data</summary><pre>${JSON.stringify(e.data, null, 2)}</pre></details></td>
<td><code title="${e.hash} (previous ${e.prevHash})">${e.hash.slice(0, 12)}</code></td>
</tr>`,
  );
  return html`<table class="audit">
<thead><tr><th>#</th><th>When</th><th>Kind</th><th>Actor</th><th>Rollout</th><th>Change</th><th>What</th><th>Hash</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
}
