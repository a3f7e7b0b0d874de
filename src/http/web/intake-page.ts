import type { BackfilledMerge, EventSummary, IntakeRecord } from '../../rollouts/intake-reads.js';
import { age, badge, changeLink, utc } from './format.js';
import { html, type Html } from './html.js';
import { page, type Viewer } from './layout.js';

/** What only the running service knows about its intake: the live facts beside the database's. */
export interface IntakeHealth {
  /** Whether Gerrit's SSH stream is configured at all (GERRIT_SSH_*); without it only webhooks and back-fill feed rollgate. */
  readonly streamConfigured: boolean;
  streamConnected(): boolean;
  isLeader(): boolean;
}

export interface IntakePageInput {
  readonly viewer: Viewer;
  /** Absent when the page is rendered without a running service's live facts. */
  readonly health: IntakeHealth | undefined;
  readonly record: IntakeRecord;
  readonly gerritUrl: string | undefined;
  readonly now: Date;
}

/** `GET /intake`: is the stream up and ours, what came in last, what waits or was refused, and what the last back-fill found. */
export function intakePage(p: IntakePageInput): Html {
  const h = p.health;
  const rec = p.record;
  const yesNo = (v: boolean, yes: string, no: string) => html`<span class="${v ? 'state-yes' : 'state-no'}">${v ? yes : no}</span>`;
  const body = html`<h1>Intake</h1>
<section class="stream">
<h2>Stream</h2>
<dl class="facts">
<dt>stream</dt><dd class="stream-state">${!h ? 'not known' : !h.streamConfigured ? html`<span class="state-no">not configured</span> (GERRIT_SSH_*): only webhooks and back-fill bring events` : yesNo(h.streamConnected(), 'connected', 'not connected')}</dd>
<dt>leader</dt><dd class="leader-state">${!h ? 'not known' : yesNo(h.isLeader(), 'yes: this replica holds the stream', 'no: another replica holds the stream, or none yet')}</dd>
<dt>last event</dt><dd class="last-event">${rec.lastEvent ? html`${rec.lastEvent.type ?? 'unreadable line'} from ${rec.lastEvent.source}, ${age(rec.lastEvent.received_at, p.now)} (${rec.lastEvent.status})` : 'none yet'}</dd>
</dl>
</section>
<section class="pending">
<h2>Pending: <span class="count">${rec.counts.pending}</span></h2>
<p class="note">Stored and not yet decided (waiting to settle, or to be retried).${rec.counts.failed > 0 ? ` ${rec.counts.failed} failed for good after their retries.` : ''}</p>
${eventTable(rec.pending, p.now, 'Nothing pending.')}
</section>
<section class="rejected">
<h2>Rejected: <span class="count">${rec.counts.rejected}</span></h2>
<p class="note">Lines that could not be read as a Gerrit event, latest first.</p>
${eventTable(rec.rejected, p.now, 'Nothing rejected.')}
</section>
<section class="backfill">
<h2>Last back-fill</h2>
${
  rec.backfill
    ? html`<p class="backfill-summary">Started ${age(rec.backfill.at, p.now)}; found ${rec.backfill.found.length === 0 ? 'no merge rollgate had missed' : `${rec.backfill.found.length} merge${rec.backfill.found.length === 1 ? '' : 's'} rollgate had missed`}.</p>
${merges(rec.backfill.found, 'found', p)}`
    : html`<p class="empty">No back-fill has run yet (it runs after the stream connects, with Gerrit REST configured).</p>`
}
${rec.backfilled.length > 0 ? html`<h3>Merges found by back-fill, latest first</h3>${merges(rec.backfilled, 'backfilled', p)}` : ''}
</section>`;
  return page({ title: 'Intake', viewer: p.viewer, body });
}

function merges(found: readonly BackfilledMerge[], cls: string, p: IntakePageInput): Html {
  if (found.length === 0) return html``;
  return html`<ul class="${cls}">${found.map((f) => html`<li>${f.project !== undefined && f.changeNumber !== undefined ? changeLink(p.gerritUrl, f.project, f.changeNumber) : `event ${f.id}`} ${badge(f.status)}, stored ${age(f.receivedAt, p.now)}</li>`)}</ul>`;
}

function eventTable(events: readonly EventSummary[], now: Date, empty: string): Html {
  if (events.length === 0) return html`<p class="empty">${empty}</p>`;
  return html`<table class="events">
<thead><tr><th>#</th><th>Received</th><th>Source</th><th>Type</th><th>Why</th><th>Line</th></tr></thead>
<tbody>
${events.map((e) => html`<tr data-event="${e.id}"><td>${e.id}</td><td>${age(e.received_at, now)}</td><td>${e.source}</td><td>${e.type ?? '—'}</td><td>${e.reason ?? (e.attempts > 0 ? `attempt ${e.attempts}, next at ${utc(e.not_before)}` : 'settling')}</td><td><pre class="head">${e.head}</pre></td></tr>`)}
</tbody>
</table>`;
}
