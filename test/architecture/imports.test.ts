import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importCycles, importGraph, runtimeSpecifiers, type ImportEdge } from './import-graph.js';

// The import rules of src/ (docs/development.md, "Layout"): the four stages meet only through the
// database and the shared floor below them, and the edges stay apart from the stages.

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The pipeline's stages: each meets the others only through the floor and the database. */
const STAGES = ['src/intake', 'src/decide', 'src/execute', 'src/report'];
/** The shared floor under the stages: the pure policy, the rollout record, the messages, the actions people take. */
const FLOOR = ['src/policy', 'src/rollouts', 'src/messages', 'src/actions'];
/** The edges to the outside (SSH and REST, the database, HTTP, logins, the command line, the audit files). */
const EDGES = ['src/gerrit', 'src/db', 'src/http', 'src/identity', 'src/cli', 'src/audit'];
/** What wires the stages together: the service (`serve`) and a replay of recorded events. Only the command line starts them. */
const ROOTS = ['src/service', 'src/replay'];

/**
 * What `src/policy` may load at run time: itself, these pure files at the top of src/, and these
 * packages. Types may come from anywhere (`import type`), since they are gone when it runs.
 */
const POLICY_MAY_LOAD = ['src/zod-atoms.ts', 'src/duration.ts'];
const POLICY_PACKAGES = ['zod', 'picomatch', 'node-cron'];

/** `src/decide` for a file in a folder, the file itself for one at the top of src/ (`src/config.ts`). */
function folderOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? parts.slice(0, 2).join('/') : file;
}

/** Which rule an import between two folders breaks, in words; undefined when it breaks none. */
function brokenRule(from: string, to: string): string | undefined {
  if (from === to) return undefined;
  if (STAGES.includes(from) && STAGES.includes(to)) return `a stage imports another stage (${from} -> ${to})`;
  if (EDGES.includes(from) && STAGES.includes(to)) return `an edge imports a stage (${from} -> ${to})`;
  if (FLOOR.includes(from) && STAGES.includes(to)) return `the floor imports a stage (${from} -> ${to})`;
  if (ROOTS.includes(to) && from !== 'src/cli' && !ROOTS.includes(from)) return `only the command line starts the service or a replay (${from} -> ${to})`;
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

  it('places every folder of src/ in the layout', () => {
    const folders = [...new Set(edges.flatMap((e) => [e.from, e.to]).map(folderOf))].filter((f) => !f.endsWith('.ts'));
    const unplaced = folders.filter((f) => ![...STAGES, ...FLOOR, ...EDGES, ...ROOTS].includes(f));
    expect(unplaced, `folders with no place in the layout (add each to STAGES, FLOOR, EDGES or ROOTS, and to docs/development.md):\n${unplaced.join('\n')}`).toEqual([]);
  });

  it('has no cycle between files', () => {
    const cycles = importCycles(edges).map(({ files, loop }) => `${loop.join(' -> ')} (all in this cycle: ${files.join(', ')})`);
    expect(cycles, `import cycles:\n${cycles.join('\n')}`).toEqual([]);
  });

  it('has no two folders importing each other', () => {
    const mutual = mutualFolders(edges);
    expect(mutual, `folders that import each other: move the shared piece down to where both may import it:\n${mutual.join('\n')}`).toEqual([]);
  });

  it('keeps the stages off each other, and the floor and the edges off the stages', () => {
    const broken = edges.flatMap(({ from, to }) => {
      const rule = brokenRule(folderOf(from), folderOf(to));
      return rule === undefined ? [] : [`${from} -> ${to}: ${rule}`];
    });
    expect(broken, `imports that break the layout (move the shared piece into the floor):\n${broken.join('\n')}`).toEqual([]);
  });

  it('keeps src/policy pure: at run time it loads only itself, pure files and pure packages', () => {
    const files = [...new Set(edges.map((e) => e.from))].filter((f) => f.startsWith('src/policy/'));
    expect(files.length).toBeGreaterThan(5);
    const loads = files.flatMap((file) =>
      runtimeSpecifiers(REPO, file).flatMap((specifier) => {
        if (!specifier.startsWith('.')) return POLICY_PACKAGES.includes(specifier) ? [] : [`${file} loads the package ${specifier}`];
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)).replace(/\.js$/, '.ts');
        return target.startsWith('src/policy/') || POLICY_MAY_LOAD.includes(target) ? [] : [`${file} loads ${target}`];
      }),
    );
    expect(loads, `src/policy must stay pure (import types with \`import type\`):\n${loads.join('\n')}`).toEqual([]);
  });
});
