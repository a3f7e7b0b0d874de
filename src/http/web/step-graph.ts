import dagre from '@dagrejs/dagre';
import type { StepRow } from '../../db/schema.js';
import { html, type Html } from './html.js';
import { statusColours } from './step-colours.js';

/** A step as the graph needs it: its id and the steps it needs (from the workflow). */
export interface GraphStep {
  readonly id: string;
  readonly needs: readonly string[];
}

export interface PlacedNode {
  readonly id: string;
  /** The box's top-left corner and size, in the drawing's units. */
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface PlacedEdge {
  readonly from: string;
  readonly to: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

export interface GraphLayout {
  readonly nodes: readonly PlacedNode[];
  readonly edges: readonly PlacedEdge[];
  readonly width: number;
  readonly height: number;
}

const NODE_WIDTH = 190;
const NODE_HEIGHT = 62;
const MARGIN = 12;

/** Which way the steps follow each other: left to right for wide screens, top to bottom for phones. */
export type GraphDirection = 'LR' | 'TB';

/**
 * Places the steps with dagre (one rank per dependency depth), so edges cross as little as the
 * layout library can manage. A need the rollout has no step for (the workflow changed since)
 * draws no edge.
 */
export function layoutStepGraph(steps: readonly GraphStep[], direction: GraphDirection = 'LR'): GraphLayout {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: direction, nodesep: 24, ranksep: direction === 'LR' ? 56 : 40, marginx: MARGIN, marginy: MARGIN });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(steps.map((s) => s.id));
  for (const s of steps) g.setNode(s.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  const needs = steps.flatMap((s) => s.needs.filter((n) => ids.has(n) && n !== s.id).map((n) => ({ from: n, to: s.id })));
  for (const e of needs) g.setEdge(e.from, e.to);
  dagre.layout(g);
  const nodes = steps.map((s) => {
    const n = g.node(s.id);
    // dagre gives centres; the drawing wants corners
    return { id: s.id, x: (n.x ?? 0) - NODE_WIDTH / 2, y: (n.y ?? 0) - NODE_HEIGHT / 2, width: NODE_WIDTH, height: NODE_HEIGHT };
  });
  const edges = needs.map((e) => ({ ...e, points: (g.edge(e.from, e.to).points ?? []).map((p: { x: number; y: number }) => ({ x: p.x, y: p.y })) }));
  const label = g.graph();
  return { nodes, edges, width: label.width ?? NODE_WIDTH + 2 * MARGIN, height: label.height ?? NODE_HEIGHT + 2 * MARGIN };
}

/**
 * A drawing narrower than this is centred in a box this wide, so a two-step workflow is not blown
 * up to the page's width (the SVG scales to 100% of the page, at any size, by its viewBox).
 */
const MIN_VIEW_WIDTH = 800;

/**
 * The workflow's steps as an SVG graph: a rounded box per step (id, kind, status, in the badges'
 * colours) and an arrow per `needs`. An approval gate that is waiting is drawn with a thick
 * dashed border and says what it waits for. Rendered on the server; no script, no inline style.
 * Drawn twice: left to right, scaled to the page's width (`wide`), and top to bottom at its own
 * size (`narrow`, shrunk only to fit), which the stylesheet shows instead on a phone, where a
 * wide drawing scaled down would make its text too small to read.
 */
export function stepGraph(rows: readonly StepRow[], workflow: { readonly steps: readonly GraphStep[] } | undefined): Html {
  if (rows.length === 0) return html``;
  const steps = rows.map((r) => ({ id: r.step_id, needs: workflow?.steps.find((s) => s.id === r.step_id)?.needs ?? [] }));
  const rowById = new Map(rows.map((r) => [r.step_id, r]));
  return html`${drawing(layoutStepGraph(steps, 'LR'), rowById, 'wide')}
${drawing(layoutStepGraph(steps, 'TB'), rowById, 'narrow')}`;
}

function drawing(layout: GraphLayout, rowById: ReadonlyMap<string, StepRow>, fit: 'wide' | 'narrow'): Html {
  const viewWidth = fit === 'wide' ? Math.max(layout.width, MIN_VIEW_WIDTH) : layout.width;
  const shift = (viewWidth - layout.width) / 2;
  const nodes = layout.nodes.map((n) => node(n, rowById.get(n.id)!));
  const edges = layout.edges.map((e) => html`<path class="edge" data-from="${e.from}" data-to="${e.to}" d="${pathOf(e.points)}" fill="none" stroke="#5b6476" stroke-width="1.6" marker-end="url(#arrow-${fit})"><title>${e.to} needs ${e.from}</title></path>`);
  const size = fit === 'wide' ? html`width="100%"` : html`width="${Math.ceil(layout.width)}" height="${Math.ceil(layout.height)}"`;
  return html`<svg class="step-graph ${fit}" role="img" aria-label="The workflow's steps and what each needs" xmlns="http://www.w3.org/2000/svg" ${size} viewBox="${-shift} 0 ${viewWidth} ${layout.height}" font-family="system-ui, sans-serif">
<defs><marker id="arrow-${fit}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#5b6476"/></marker></defs>
<g class="edges">${edges}</g>
<g class="nodes">${nodes}</g>
</svg>`;
}

function pathOf(points: readonly { readonly x: number; readonly y: number }[]): string {
  return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
}

function node(n: PlacedNode, row: StepRow): Html {
  const c = statusColours(row.status);
  const gateWaiting = row.kind === 'approval' && row.status === 'waiting';
  const status = row.status.replace('_', ' ');
  const cx = n.x + n.width / 2;
  return html`<g class="node status-${row.status}${gateWaiting ? ' gate-waiting' : ''}" data-node="${row.step_id}" data-status="${row.status}">
<title>${row.step_id}${row.kind ? ` (${row.kind})` : ''}: ${status}${row.attempts > 1 ? `, ${row.attempts} attempts` : ''}</title>
<rect x="${n.x}" y="${n.y}" width="${n.width}" height="${n.height}" rx="10" fill="${c.fill}" stroke="${c.ink}" stroke-width="${gateWaiting ? 4 : 1.5}"${gateWaiting ? html` stroke-dasharray="8 4"` : ''}/>
<text x="${cx}" y="${n.y + 22}" text-anchor="middle" font-size="14" font-weight="600" fill="#1d2330">${clip(row.step_id, 22)}</text>
<text x="${cx}" y="${n.y + 44}" text-anchor="middle" font-size="12" fill="${c.ink}">${row.kind ? `${row.kind} · ` : ''}${gateWaiting ? 'awaiting approval' : status}</text>
</g>`;
}

/** A long step id is cut to fit its box; the whole id is in the box's title. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
