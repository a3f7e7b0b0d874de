import type { StepAttemptRow, StepRow } from '../../db/schema.js';
import { badge, duration, utc } from './format.js';
import { html, type Html } from './html.js';
import { statusColours } from './step-colours.js';

/** One attempt's bar on the timeline (or a step's, when it has no attempt records), in thousandths of the rollout's span (0 = the first start). */
export interface TimelineBar {
  readonly stepId: string;
  /** The attempt's number; undefined for a step recorded before attempts were kept. */
  readonly attempt: number | undefined;
  readonly status: string;
  readonly start: number;
  readonly end: number;
  /** False while it runs: its bar reaches now. */
  readonly ended: boolean;
}

const SCALE = 1000;
/** An attempt of a few milliseconds still shows as a sliver. */
const MIN_BAR = 3;

interface Span {
  readonly stepId: string;
  readonly attempt: number | undefined;
  readonly status: string;
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
}

/** Every attempt that started, on a common axis; a step without attempt records counts as one attempt. */
function spans(rows: readonly StepRow[], attempts: readonly StepAttemptRow[]): Span[] {
  return rows.flatMap((r): Span[] => {
    const own = attempts.filter((a) => a.step_id === r.step_id);
    if (own.length > 0) return own.map((a) => ({ stepId: r.step_id, attempt: a.number, status: a.status, startedAt: a.started_at, finishedAt: a.finished_at }));
    return r.started_at ? [{ stepId: r.step_id, attempt: undefined, status: r.status, startedAt: r.started_at, finishedAt: r.finished_at }] : [];
  });
}

/**
 * Where each attempt's bar lies on a common axis, from the earliest start to the latest end
 * (now, for one still running). Steps that never started have no bar.
 */
export function timelineBars(
  rows: readonly StepRow[],
  attempts: readonly StepAttemptRow[],
  now: Date,
): { readonly bars: readonly TimelineBar[]; readonly from: Date | undefined; readonly to: Date | undefined } {
  const started = spans(rows, attempts);
  if (started.length === 0) return { bars: [], from: undefined, to: undefined };
  const endOf = (s: Span) => (s.finishedAt ?? now).getTime();
  const from = Math.min(...started.map((s) => s.startedAt.getTime()));
  const to = Math.max(from + 1, ...started.map(endOf));
  const at = (t: number) => ((t - from) / (to - from)) * SCALE;
  const bars = started.map((s) => {
    const start = at(s.startedAt.getTime());
    return { stepId: s.stepId, attempt: s.attempt, status: s.status, start, end: Math.min(SCALE, Math.max(at(endOf(s)), start + MIN_BAR)), ended: s.finishedAt !== null };
  });
  return { bars, from: new Date(from), to: new Date(to) };
}

/**
 * A Gantt chart of the rollout's steps: per step its status, each attempt's start and end in UTC
 * (as text) and a bar per attempt, coloured by how it ended, in proportion on the rollout's common
 * time axis. The bars are small SVGs stretched to the row's width, so the chart fits a phone and
 * needs no inline style.
 */
export function stepTimeline(rows: readonly StepRow[], attempts: readonly StepAttemptRow[], now: Date): Html {
  const { bars, from, to } = timelineBars(rows, attempts, now);
  if (from === undefined || to === undefined) return html`<p class="empty timeline-empty">No step has started yet.</p>`;
  const items = rows.map((r) => {
    const own = bars.filter((b) => b.stepId === r.step_id);
    const ownSpans = spans([r], attempts);
    const when =
      ownSpans.length === 0
        ? html`not started`
        : html`${ownSpans.map(
            (s, i) =>
              html`${i > 0 ? html`<br>` : ''}${s.attempt !== undefined && ownSpans.length > 1 ? html`attempt ${s.attempt} ${badge(s.status)} ` : ''}<span class="utc">${utc(s.startedAt)}</span> → <span class="utc">${s.finishedAt ? utc(s.finishedAt) : 'now (running)'}</span>${s.finishedAt ? ` (${duration(s.finishedAt.getTime() - s.startedAt.getTime())})` : ''}`,
          )}`;
    const drawn =
      own.length > 0
        ? html`<svg class="bar" xmlns="http://www.w3.org/2000/svg" width="100%" height="12" viewBox="0 0 ${SCALE} 12" preserveAspectRatio="none" aria-hidden="true"><rect x="0" y="0" width="${SCALE}" height="12" fill="#eef0f3"/>${own.map(
            (b) => html`<rect x="${b.start.toFixed(1)}" y="1" width="${(b.end - b.start).toFixed(1)}" height="10" rx="2" fill="${statusColours(b.status).ink}"${b.ended ? '' : html` fill-opacity="0.6"`}/>`,
          )}</svg>`
        : '';
    return html`<li class="attempt" data-timeline-step="${r.step_id}" data-status="${r.status}"><div><strong>${r.step_id}</strong> ${badge(r.status)}${ownSpans.length > 1 ? ` ${ownSpans.length} attempts` : ''}</div>
<div class="span">${when}</div>
${drawn}</li>`;
  });
  return html`<p class="timeline-axis">From <span class="utc">${utc(from)}</span> to <span class="utc">${utc(to)}</span> (UTC).</p>
<ol class="timeline">${items}</ol>`;
}
