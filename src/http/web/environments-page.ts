import type { RolloutRow } from '../../db/schema.js';
import type { Approver } from '../../policy/decide.js';
import type { EnvironmentState } from '../../rollouts/environment-reads.js';
import { age, badge, changeLink, shortRevision } from './format.js';
import { html, type Html } from './html.js';
import { page, type Viewer } from './layout.js';

export interface EnvironmentsPageInput {
  readonly viewer: Viewer;
  readonly environments: readonly EnvironmentState[];
  readonly gerritUrl: string | undefined;
  readonly now: Date;
}

/** `GET /environments`: per environment, what is deployed, what runs now, and what waits behind it in order. */
export function environmentsPage(p: EnvironmentsPageInput): Html {
  const body = html`<h1>Environments</h1>
<p class="note">Deployed is the last rollout that succeeded there. One rollout holds an environment at a time; the queue runs in merge order.</p>
${p.environments.length === 0 ? html`<p class="empty">No environment yet: the policy names none and nothing has rolled out.</p>` : p.environments.map((e) => environment(e, p))}`;
  return page({ title: 'Environments', viewer: p.viewer, body });
}

function environment(e: EnvironmentState, p: EnvironmentsPageInput): Html {
  const link = (r: RolloutRow) => html`<a href="/rollouts/${r.id}">#${r.id}</a> ${changeLink(p.gerritUrl, r.project, r.change_number)} <span class="subject">${r.subject}</span>`;
  const d = e.deployed;
  return html`<section class="environment" data-environment="${e.environment}">
<h2>${e.environment}</h2>
<h3>Deployed</h3>
${
  d
    ? html`<dl class="facts deployed" data-rollout="${d.id}">
<dt>rollout</dt><dd>${link(d)}</dd>
<dt>rule</dt><dd>${d.rule}</dd>
<dt>revision</dt><dd>${shortRevision(d.new_rev ?? d.revision)}</dd>
<dt>finished</dt><dd>${age(d.finished_at ?? d.created_at, p.now)}</dd>
<dt>approved by</dt><dd class="approved-by">${approvedBy(d)}</dd>
</dl>`
    : html`<p class="empty">Nothing has succeeded here yet.</p>`
}
<h3>Now</h3>
${e.active.length === 0 ? html`<p class="empty">Nothing runs.</p>` : html`<ul class="running">${e.active.map((r) => html`<li data-rollout="${r.id}">${badge(r.status)} ${link(r)}, started ${age(r.started_at, p.now)}</li>`)}</ul>`}
<h3>Queued</h3>
${e.queued.length === 0 ? html`<p class="empty">Nothing waits.</p>` : html`<ol class="queue">${e.queued.map((r) => html`<li data-rollout="${r.id}">${link(r)}, merged ${age(r.merged_at, p.now)}</li>`)}</ol>`}
${e.held.length > 0 ? html`<h3>Held for approval</h3><ul class="running held">${e.held.map((r) => html`<li data-rollout="${r.id}">${link(r)}, held ${age(r.created_at, p.now)}</li>`)}</ul>` : ''}
</section>`;
}

/** Whose approval counted, with the role and group that made it count; or that none was needed. */
function approvedBy(r: RolloutRow): Html {
  const approvers = (Array.isArray(r.approvers) ? r.approvers : []) as Approver[];
  if (approvers.length === 0) return html`<span class="empty">nobody (no approval counted)</span>`;
  return html`${approvers.map((a, i) => html`${i > 0 ? ', ' : ''}${a.display} (${a.roles.map((role, j) => `${role} via ${a.groups[j] ?? '?'}`).join(', ')})`)}`;
}
