import { describe, expect, it } from 'vitest';
import type { StepAttemptRow, StepRow, StepStatus } from '../../src/db/schema.js';
import { layoutStepGraph, stepGraph, type PlacedNode } from '../../src/http/web/step-graph.js';
import { stepTimeline, timelineBars } from '../../src/http/web/step-timeline.js';

/** A diamond with a tail: build → (test, scan) → approve → deploy → verify. */
const STEPS = [
  { id: 'build', needs: [] },
  { id: 'test', needs: ['build'] },
  { id: 'scan', needs: ['build'] },
  { id: 'approve', needs: ['test', 'scan'] },
  { id: 'deploy', needs: ['approve'] },
  { id: 'verify', needs: ['deploy'] },
] as const;
const NEED_COUNT = STEPS.reduce((n, s) => n + s.needs.length, 0);

function row(stepId: string, status: StepStatus, patch: Partial<StepRow> = {}): StepRow {
  return {
    rollout_id: 1, step_id: stepId, position: 0, status, attempts: 1, exit_code: null, started_at: null, finished_at: null, duration_ms: null,
    output_tail: null, error: null, kind: 'run', lease_owner: null, lease_expires_at: null, idempotency_key: null, http_status: null,
    deadline_at: null, note: null, process_group: null, process_host: null, ...patch,
  };
}

const overlap = (a: PlacedNode, b: PlacedNode) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

describe('the step graph', () => {
  it('places every step, draws an edge per need, and no two boxes overlap', () => {
    const layout = layoutStepGraph(STEPS);
    expect(layout.nodes.map((n) => n.id)).toEqual(STEPS.map((s) => s.id));
    expect(layout.edges.map((e) => `${e.from}->${e.to}`).sort()).toEqual(STEPS.flatMap((s) => s.needs.map((n) => `${n}->${s.id}`)).sort());
    for (const [i, a] of layout.nodes.entries()) for (const b of layout.nodes.slice(i + 1)) expect(overlap(a, b), `${a.id} overlaps ${b.id}`).toBe(false);
    // left to right: a step lies right of everything it needs, and inside the drawing
    const at = new Map(layout.nodes.map((n) => [n.id, n]));
    for (const s of STEPS) for (const n of s.needs) expect(at.get(s.id)!.x).toBeGreaterThan(at.get(n)!.x + at.get(n)!.width);
    for (const n of layout.nodes) expect(n.x >= 0 && n.y >= 0 && n.x + n.width <= layout.width && n.y + n.height <= layout.height).toBe(true);
    for (const e of layout.edges) expect(e.points.length).toBeGreaterThanOrEqual(2);
  });

  it('lays the steps out top to bottom for a phone: a step lies below everything it needs', () => {
    const layout = layoutStepGraph(STEPS, 'TB');
    const at = new Map(layout.nodes.map((n) => [n.id, n]));
    for (const s of STEPS) for (const n of s.needs) expect(at.get(s.id)!.y).toBeGreaterThan(at.get(n)!.y + at.get(n)!.height);
    // two boxes side by side at most: narrow enough for a phone at nearly full size
    expect(layout.width).toBeLessThan(2 * 190 + 24 + 2 * 12 + 1);
  });

  it('draws no edge for a need the rollout has no step for', () => {
    expect(layoutStepGraph([{ id: 'deploy', needs: ['gone'] }]).edges).toEqual([]);
  });

  it('renders an SVG that scales to the page: a box per step with id, kind and status, an arrow per need, a waiting gate marked', () => {
    const workflow = { steps: STEPS };
    const rows = STEPS.map((s) => (s.id === 'approve' ? row(s.id, 'waiting', { kind: 'approval' }) : row(s.id, s.id === 'build' ? 'succeeded' : 'pending')));
    const both = stepGraph(rows, workflow).toString();
    const [svg = '', narrow = ''] = both.split('\n<svg');
    expect(svg).toMatch(/^<svg class="step-graph wide"[^>]* width="100%" viewBox="[-\d. ]+"/);
    expect(both).not.toContain('style=');
    // the phone's drawing: top to bottom, at its own size, the same boxes and arrows
    expect(narrow).toMatch(/^ class="step-graph narrow"[^>]* width="\d+" height="\d+" viewBox="[-\d. ]+"/);
    expect(narrow.match(/<g class="node /g)).toHaveLength(STEPS.length);
    expect(narrow.match(/<path class="edge" /g)).toHaveLength(NEED_COUNT);
    expect(svg.match(/<g class="node /g)).toHaveLength(STEPS.length);
    expect(svg.match(/<path class="edge" /g)).toHaveLength(NEED_COUNT);
    expect(svg).toContain('data-from="approve" data-to="deploy"');
    expect(svg).toMatch(/<g class="node status-waiting gate-waiting" data-node="approve" data-status="waiting">/);
    expect(svg).toContain('approval · awaiting approval');
    expect(svg).toContain('run · succeeded');
  });

  it('escapes step ids, which come from the policy', () => {
    expect(stepGraph([row('<b>', 'pending')], undefined).toString()).not.toContain('<b>');
  });
});

describe('the step timeline', () => {
  const t = (s: number) => new Date(Date.UTC(2026, 11, 6, 12, 0, s));

  it('puts each started step on one axis from the first start to the last end, a running step reaching now', () => {
    const rows = [row('build', 'succeeded', { started_at: t(0), finished_at: t(10) }), row('deploy', 'running', { started_at: t(10) }), row('verify', 'pending')];
    const { bars, from, to } = timelineBars(rows, [], t(20));
    expect(from).toEqual(t(0));
    expect(to).toEqual(t(20));
    expect(bars).toEqual([
      { stepId: 'build', attempt: undefined, status: 'succeeded', start: 0, end: 500, ended: true },
      { stepId: 'deploy', attempt: undefined, status: 'running', start: 500, end: 1000, ended: false },
    ]);
    const text = stepTimeline(rows, [], t(20)).toString();
    expect(text).toContain('2026-12-06T12:00:00Z</span> → <span class="utc">2026-12-06T12:00:10Z');
    expect(text).toContain('now (running)');
    expect(text.match(/<svg class="bar"/g)).toHaveLength(2);
    expect(text).toMatch(/data-timeline-step="verify"[^]*not started/);
  });

  it('draws every attempt of a retried step as its own bar, coloured by how it ended', () => {
    const attempt = (number: number, status: StepAttemptRow['status'], start: number, end: number | null): StepAttemptRow => ({
      rollout_id: 1,
      step_id: 'deploy',
      number,
      attempt: number,
      kind: 'run',
      worker: 'w',
      status,
      started_at: t(start),
      finished_at: end === null ? null : t(end),
      exit_code: null,
      http_status: null,
      error: null,
    });
    const rows = [row('deploy', 'running', { started_at: t(0), attempts: 2 })];
    const { bars } = timelineBars(rows, [attempt(1, 'failed', 0, 4), attempt(2, 'running', 6, null)], t(10));
    expect(bars).toEqual([
      { stepId: 'deploy', attempt: 1, status: 'failed', start: 0, end: 400, ended: true },
      { stepId: 'deploy', attempt: 2, status: 'running', start: 600, end: 1000, ended: false },
    ]);
    const text = stepTimeline(rows, [attempt(1, 'failed', 0, 4), attempt(2, 'running', 6, null)], t(10)).toString();
    expect(text).toContain('2 attempts');
    expect(text).toMatch(/attempt 1 <span class="badge status-failed">failed<\/span> <span class="utc">2026-12-06T12:00:00Z<\/span> → <span class="utc">2026-12-06T12:00:04Z<\/span> \(4.0 s\)/);
    expect(text).toContain('now (running)');
    expect(text.match(/<rect x="/g)).toHaveLength(3);
  });

  it('says so when no step has started', () => {
    expect(stepTimeline([row('build', 'pending')], [], t(0)).toString()).toContain('No step has started yet.');
  });
});
