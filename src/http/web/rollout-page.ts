import { ENDED_STATUSES, type DecisionRow, type RolloutRow, type RolloutStatus, type StepRow, type StepStatus } from '../../db/schema.js';
import type { Approver, Reason } from '../../policy/decide.js';
import type { RolloutVerb } from '../../policy/who-may-act.js';
import type { WorkflowDefinition } from '../../policy/workflow-config.js';
import type { RolloutPeople } from '../../rollouts/rollout-people.js';
import { approvalFact } from './approval-fact.js';
import { age, badge, changeLink, person, shortRevision } from './format.js';
import { html, type Html } from './html.js';
import { page, type Viewer } from './layout.js';
import { stepDag } from './step-dag.js';
import type { AttemptsView } from './step-attempts.js';
import { stepGraph } from './step-graph.js';
import { stepTimeline } from './step-timeline.js';

export interface RolloutPageInput {
  readonly viewer: Viewer;
  readonly rollout: RolloutRow;
  readonly steps: readonly StepRow[];
  /** Every attempt of the steps, the newest part of each one's stored output, and the id of the newest chunk (the live stream goes on from there). */
  readonly attempts: AttemptsView & { readonly lastChunkId: number };
  /** Owner, uploader and submitter of the change, as rollgate recorded them; undefined when unknown. */
  readonly people: RolloutPeople | undefined;
  /** The decisions recorded for this rollout, oldest first. */
  readonly decisions: readonly DecisionRow[];
  readonly workflow: WorkflowDefinition | undefined;
  /** What the viewer's roles allow in the rollout's current state (buttons; the API checks again). */
  readonly actions: readonly RolloutVerb[];
  /** The result of the action just taken (`?msg=`, set by the action's redirect). */
  readonly flash: string | undefined;
  readonly gerritUrl: string | undefined;
  readonly now: Date;
}

const ACTION_LABELS: Readonly<Record<RolloutVerb, string>> = { approve: 'Approve', deny: 'Deny', cancel: 'Cancel', retry: 'Retry', rollback: 'Roll back' };

/**
 * `GET /rollouts/:id`: the decision and why, who approved with which role, the steps as a graph
 * (SVG, laid out on the server) with their results, a timeline of when each ran, and the actions
 * the viewer may take. While the rollout is not settled,
 * `/assets/live.js` watches `GET /api/rollouts/:id` and reloads the page when something changed.
 */
export function rolloutPage(p: RolloutPageInput): Html {
  const r = p.rollout;
  const steps = shownSteps(r.status, p.steps);
  const body = html`${p.flash !== undefined ? html`<p class="flash" role="status">${p.flash}</p>` : ''}
<h1>Rollout #${r.id}: ${r.rule} to ${r.environment} ${badge(r.status)}</h1>
<p class="live-note" hidden>This rollout changed. <a href="">Reload</a> to see it.</p>
<section class="change">
<h2>Change</h2>
<p class="subject">${r.subject}</p>
<dl class="facts">
<dt>change</dt><dd>${changeLink(p.gerritUrl, r.project, r.change_number)}, patch set ${r.patchset}, branch ${r.branch}</dd>
<dt>revision</dt><dd>${shortRevision(r.revision)}</dd>
${peopleFacts(p.people)}
<dt>workflow</dt><dd>${r.workflow}${r.run > 1 ? `, run ${r.run}` : ''}</dd>
${approvalFact(r, p.workflow)}
<dt>recorded</dt><dd>${age(r.created_at, p.now)}</dd>
${r.started_at ? html`<dt>started</dt><dd>${age(r.started_at, p.now)}</dd>` : ''}
${r.finished_at ? html`<dt>finished</dt><dd>${age(r.finished_at, p.now)}</dd>` : ''}
${r.outcome ? html`<dt>outcome</dt><dd class="outcome">${r.outcome}</dd>` : ''}
</dl>
</section>
<section class="decision">
<h2>Decision: ${r.decision}</h2>
${reasonList(r.reasons as Reason[])}
<h3>Approvers</h3>
${approverTable(r.approvers as Approver[])}
<h3>Justification</h3>
<p class="justification">${r.justification ?? html`<em>none given</em>`}</p>
</section>
<section class="actions">
<h2>Actions</h2>
${actionForms(p)}
</section>
<section class="steps">
<h2>Steps</h2>
${stepGraph(steps, p.workflow)}
<h3>Step details</h3>
${stepDag(steps, p.workflow, p.attempts)}
</section>
<section class="timeline">
<h2>Timeline</h2>
${stepTimeline(steps, p.attempts.attempts, p.now)}
</section>
<section class="history">
<h2>Decision history</h2>
${p.decisions.length === 0 ? html`<p class="empty">No decision recorded for this rollout.</p>` : html`<ol class="decisions">${p.decisions.map((d) => decisionItem(d, p.now))}</ol>`}
</section>`;
  return page({
    title: `Rollout #${r.id}`,
    viewer: p.viewer,
    body,
    // an ended rollout does not change by itself: the page stops watching it
    mainData: { rollout: String(r.id), status: r.status, ...(ENDED_STATUSES.has(r.status) ? {} : { live: 'on', 'output-after': String(p.attempts.lastChunkId) }) },
  });
}

/** Rollouts whose steps have not run, and will not unless someone approves (held) or acts again. */
const NOT_STARTED: ReadonlySet<RolloutStatus> = new Set(['held', 'denied', 'expired', 'cancelled', 'superseded']);

/**
 * A step still `pending` in a rollout that was held, denied or expired (or cancelled or
 * superseded) is not waiting for a worker: it was never run. Shown as "not run", so nobody
 * reads the page as a rollout about to proceed. (Only the page's words; the row is untouched.)
 */
function shownSteps(status: RolloutStatus, steps: readonly StepRow[]): readonly StepRow[] {
  if (!NOT_STARTED.has(status)) return steps;
  return steps.map((s) => (s.status === 'pending' ? { ...s, status: 'not_run' as StepStatus } : s));
}

function peopleFacts(people: RolloutPeople | undefined): Html {
  if (!people) return html``;
  const submitter = people.submitter ? person(people.submitter) : people.backfilledOnly ? 'not known (the merge was found by back-fill, which Gerrit reports without a submitter)' : 'not known';
  const uploader = people.uploader && person(people.uploader) !== person(people.owner) ? html`, patch set uploaded by <span class="uploader">${person(people.uploader)}</span>` : '';
  return html`<dt>owner</dt><dd><span class="owner">${person(people.owner)}</span>${uploader}</dd>
<dt>submitter</dt><dd class="submitter">${submitter}</dd>
`;
}

function reasonList(reasons: readonly Reason[]): Html {
  if (reasons.length === 0) return html`<p class="empty">No reasons recorded.</p>`;
  return html`<ul class="reasons">${reasons.map((x) => html`<li class="reason-${x.code}">${x.message}</li>`)}</ul>`;
}

function approverTable(approvers: readonly Approver[]): Html {
  if (approvers.length === 0) return html`<p class="empty">Nobody's approval counted.</p>`;
  const grants = (a: Approver) => a.roles.map((role, i) => `${role} via ${a.groups[i] ?? '?'}`).join(', ');
  return html`<table class="approvers"><thead><tr><th>Who</th><th>How</th><th>Roles (group)</th></tr></thead><tbody>
${approvers.map((a) => html`<tr><td>${a.display}</td><td>${a.via}</td><td>${grants(a)}</td></tr>`)}
</tbody></table>`;
}

function actionForms(p: RolloutPageInput): Html {
  const op = p.viewer.operator;
  // with login on, only operators see this page at all
  if (!op) return html`<p class="note">Actions need login, which is not configured.</p>`;
  if (p.actions.length === 0) {
    const roles = op.roles.map((g) => g.role);
    return html`<p class="note">Your roles (${roles.length > 0 ? roles.join(', ') : 'none'}) allow no action on this rollout while it is ${p.rollout.status.replace('_', ' ')}.</p>`;
  }
  return html`${p.actions.map(
    (action) => html`<form class="action action-${action}" method="post" action="/api/rollouts/${p.rollout.id}/${action}">
<input type="hidden" name="_csrf" value="${op.csrfToken ?? ''}">
<label>Justification <input name="justification" required maxlength="2000" autocomplete="off"></label>
<button type="submit" name="action" value="${action}">${ACTION_LABELS[action]}</button>
</form>`,
  )}`;
}

function decisionItem(d: DecisionRow, now: Date): Html {
  return html`<li><div>${badge(d.outcome)} on ${d.trigger}${d.actor ? html` by ${d.actor}` : ''}, ${age(d.created_at, now)}, policy <code title="${d.policy_version}">${d.policy_version.slice(0, 12)}</code></div>
${reasonList(d.reasons as Reason[])}</li>`;
}
