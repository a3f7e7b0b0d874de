import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importCycles, importGraph, type ImportEdge } from './import-graph.js';

// The import rules of src/ (docs/development.md, "Layout"): the four stages meet only through the
// database and the shared floor below them, and the edges stay apart from the stages.

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STAGES = ['src/intake', 'src/decide', 'src/execute', 'src/report'];
const EDGES = ['src/gerrit', 'src/db', 'src/http', 'src/identity', 'src/cli', 'src/audit'];
/**
 * The surfaces that drive the stages (commands and routes) may import them for now.
 * A rule to tighten: once approve/retry/… and the read queries live below the stages, drop these two.
 */
const EDGES_ALLOWED_TO_IMPORT_STAGES_FOR_NOW = ['src/cli', 'src/http'];

/**
 * Imports that break a rule today, each `from -> to`. A ratchet: the list may only shrink. The test
 * fails on an import that breaks a rule and is not listed, and on a listed one that no longer
 * exists (delete its line, so it cannot come back unnoticed).
 */
const KNOWN_VIOLATIONS: readonly string[] = [
  // An edge imports a stage: identity reads roles and the policy's groups from decide.
  'src/identity/identity.ts -> src/decide/policy-config.ts',
  'src/identity/operator-resolver.ts -> src/decide/policy-config.ts',
  'src/identity/operator-resolver.ts -> src/decide/roles.ts',
  'src/identity/operator.ts -> src/decide/roles.ts',
  // Stages import each other: decide -> execute, intake, report.
  'src/decide/decide-deps.ts -> src/execute/rollout-store.ts',
  'src/decide/decide-deps.ts -> src/intake/event-store.ts',
  'src/decide/decide-deps.ts -> src/report/outbox-store.ts',
  'src/decide/expire-holds.ts -> src/report/format-message.ts',
  'src/decide/expire-holds.ts -> src/report/outbox-store.ts',
  'src/decide/expire-holds.ts -> src/report/rollout-summary.ts',
  'src/decide/handle-comment.ts -> src/report/format-message.ts',
  'src/decide/load-policy.ts -> src/execute/workflow-config.ts',
  'src/decide/policy-config.ts -> src/execute/workflow-config.ts',
  'src/decide/record-decision.ts -> src/execute/rollout-store.ts',
  'src/decide/record-decision.ts -> src/report/format-message.ts',
  'src/decide/record-decision.ts -> src/report/outbox-store.ts',
  'src/decide/record-decision.ts -> src/report/rollout-summary.ts',
  'src/decide/rollout-actions.ts -> src/report/format-message.ts',
  'src/decide/who-may-act.ts -> src/execute/workflow-config.ts',
  // execute -> decide, report.
  'src/execute/allowed-actions.ts -> src/decide/policy-config.ts',
  'src/execute/allowed-actions.ts -> src/decide/who-may-act.ts',
  'src/execute/operations.ts -> src/decide/policy-config.ts',
  'src/execute/operations.ts -> src/decide/who-may-act.ts',
  'src/execute/rollout-execution.ts -> src/report/format-message.ts',
  'src/execute/rollout-execution.ts -> src/report/rollout-summary.ts',
  'src/execute/rollout-messages.ts -> src/report/format-message.ts',
  'src/execute/rollout-messages.ts -> src/report/outbox-store.ts',
  'src/execute/rollout-store.ts -> src/decide/decide.ts',
  'src/execute/runner-deps.ts -> src/decide/policy-config.ts',
  'src/execute/runner-deps.ts -> src/report/outbox-store.ts',
  'src/execute/runner.ts -> src/report/format-message.ts',
  'src/execute/runner.ts -> src/report/rollout-summary.ts',
  // report -> decide.
  'src/report/format-message.ts -> src/decide/decide.ts',
  'src/report/rollout-summary.ts -> src/decide/decide.ts',
];

/** `src/decide` for a file in a folder, the file itself for one at the top of src/ (`src/config.ts`). */
function folderOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? parts.slice(0, 2).join('/') : file;
}

/** Which rule an import between two folders breaks, in words; undefined when it breaks none. */
function brokenRule(from: string, to: string): string | undefined {
  if (from === to) return undefined;
  if (STAGES.includes(from) && STAGES.includes(to)) return `a stage imports another stage (${from} -> ${to})`;
  if (EDGES.includes(from) && STAGES.includes(to) && !EDGES_ALLOWED_TO_IMPORT_STAGES_FOR_NOW.includes(from)) {
    return `an edge imports a stage (${from} -> ${to})`;
  }
  return undefined;
}

/** Folders that import each other, other than two stages (the stage rule already names each such import). */
function mutualFolders(edges: readonly ImportEdge[]): string[] {
  const pairs = new Set(edges.map(({ from, to }) => `${folderOf(from)} -> ${folderOf(to)}`));
  const found: string[] = [];
  for (const pair of pairs) {
    const [a, b] = pair.split(' -> ') as [string, string];
    if (a < b && pairs.has(`${b} -> ${a}`) && !(STAGES.includes(a) && STAGES.includes(b))) found.push(`${a} <-> ${b}`);
  }
  return found;
}

describe('imports in src/', () => {
  const edges = importGraph(REPO, 'src');

  it('reads the graph (a guard against a check that passes because it found nothing)', () => {
    expect(edges.length).toBeGreaterThan(100);
    expect(edges).toContainEqual({ from: 'src/decide/event-processor.ts', to: 'src/decide/handle-merged.ts' });
  });

  it('has no cycle between files', () => {
    const cycles = importCycles(edges).map(({ files, loop }) => `${loop.join(' -> ')} (all in this cycle: ${files.join(', ')})`);
    expect(cycles, `import cycles:\n${cycles.join('\n')}`).toEqual([]);
  });

  it('has no two folders importing each other', () => {
    const mutual = mutualFolders(edges);
    expect(mutual, `folders that import each other: move the shared piece down to where both may import it:\n${mutual.join('\n')}`).toEqual([]);
  });

  it('keeps edges off the stages and the stages off each other, but for the known violations (which may only shrink)', () => {
    const violations = new Map<string, string>();
    for (const { from, to } of edges) {
      const rule = brokenRule(folderOf(from), folderOf(to));
      if (rule !== undefined) violations.set(`${from} -> ${to}`, rule);
    }
    const added = [...violations].filter(([edge]) => !KNOWN_VIOLATIONS.includes(edge)).map(([edge, rule]) => `${edge}: ${rule}`);
    const gone = KNOWN_VIOLATIONS.filter((edge) => !violations.has(edge));
    expect.soft(added, `new imports that break a rule (fix them; do not list them):\n${added.join('\n')}`).toEqual([]);
    expect.soft(gone, `listed violations that no longer exist: delete them from KNOWN_VIOLATIONS:\n${gone.join('\n')}`).toEqual([]);
  });
});
