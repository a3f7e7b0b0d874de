import type { StepRow } from '../../db/schema.js';
import { badge, duration, utc } from './format.js';
import { html, type Html } from './html.js';
import { statusColours } from './step-colours.js';

/** A step's bar on the timeline, in thousandths of the rollout's span (0 = the first start). */
export interface TimelineBar {
  readonly stepId: string;
  readonly start: number;
  readonly end: number;
  /** False while the step runs: its bar reaches now. */
  readonly ended: boolean;
}

const SCALE = 1000;
/** A step of a few milliseconds still shows as a sliver. */
const MIN_BAR = 3;

/**
 * Where each started step's bar lies on a common axis, from the earliest start to the latest end
 * (now, for a step still running). Steps that never started have no bar.
 */
export function timelineBars(rows: readonly StepRow[], now: Date): { readonly bars: readonly TimelineBar[]; readonly from: Date | undefined; readonly to: Date | undefined } {
  const started = rows.filter((r): r is StepRow & { started_at: Date } => r.started_at !== null);
  if (started.length === 0) return { bars: [], from: undefined, to: undefined };
  const endOf = (r: StepRow & { started_at: Date }) => (r.finished_at ?? now).getTime();
  const from = Math.min(...started.map((r) => r.started_at.getTime()));
  const to = Math.max(from + 1, ...started.map(endOf));
  const at = (t: number) => ((t - from) / (to - from)) * SCALE;
  const bars = started.map((r) => {
    const start = at(r.started_at.getTime());
    return { stepId: r.step_id, start, end: Math.min(SCALE, Math.max(at(endOf(r)), start + MIN_BAR)), ended: r.finished_at !== null };
  });
  return { bars, from: new Date(from), to: new Date(to) };
}

/**
 * A Gantt chart of the rollout's steps: per step its status, its start and end in UTC (as text),
 * its attempts, and a bar in proportion on the rollout's common time axis. The bars are small SVGs
 * stretched to the row's width, so the chart fits a phone and needs no inline style.
 */
export function stepTimeline(rows: readonly StepRow[], now: Date): Html {
  const { bars, from, to } = timelineBars(rows, now);
  if (from === undefined || to === undefined) return html`<p class="empty timeline-empty">No step has started yet.</p>`;
  const barOf = new Map(bars.map((b) => [b.stepId, b]));
  const items = rows.map((r) => {
    const bar = barOf.get(r.step_id);
    const c = statusColours(r.status);
    const when = r.started_at
      ? html`<span class="utc">${utc(r.started_at)}</span> → <span class="utc">${r.finished_at ? utc(r.finished_at) : 'now (running)'}</span>${r.duration_ms !== null ? ` (${duration(r.duration_ms)})` : ''}`
      : html`not started`;
    const drawn = bar
      ? html`<svg class="bar" xmlns="http://www.w3.org/2000/svg" width="100%" height="12" viewBox="0 0 ${SCALE} 12" preserveAspectRatio="none" aria-hidden="true"><rect x="0" y="0" width="${SCALE}" height="12" fill="#eef0f3"/><rect x="${bar.start.toFixed(1)}" y="1" width="${(bar.end - bar.start).toFixed(1)}" height="10" rx="2" fill="${c.ink}"${bar.ended ? '' : html` fill-opacity="0.6"`}/></svg>`
      : '';
    return html`<li class="attempt" data-timeline-step="${r.step_id}" data-status="${r.status}"><div><strong>${r.step_id}</strong> ${badge(r.status)}${r.attempts > 1 ? ` attempt ${r.attempts}` : ''}</div>
<div class="span">${when}</div>
${drawn}</li>`;
  });
  return html`<p class="timeline-axis">From <span class="utc">${utc(from)}</span> to <span class="utc">${utc(to)}</span> (UTC).</p>
<ol class="timeline">${items}</ol>`;
}
