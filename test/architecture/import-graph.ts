import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** One import between two files of the tree, both named relative to the repository (`src/decide/decide.ts`). */
export interface ImportEdge {
  readonly from: string;
  readonly to: string;
}

function typeScriptFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return typeScriptFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** The file a relative specifier names: sources import `./x.js` (NodeNext), which is `./x.ts` on disk. */
function resolveSpecifier(importer: string, specifier: string, repoRoot: string): string | undefined {
  const target = path.resolve(path.dirname(path.join(repoRoot, importer)), specifier);
  const candidates = [target.replace(/\.js$/, '.ts'), `${target}.ts`, path.join(target, 'index.ts')];
  const found = candidates.find((candidate) => existsSync(candidate));
  return found === undefined ? undefined : path.relative(repoRoot, found).split(path.sep).join('/');
}

/**
 * Every import between the files under `dir`, read with the compiler's own pre-processor, so
 * `import type`, `export … from` and `import()` all count: a type-only import still ties two
 * modules together for whoever reads or moves them. Packages (`zod`, `node:fs`) are left out.
 */
export function importGraph(repoRoot: string, dir: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of typeScriptFiles(path.join(repoRoot, dir))) {
    const from = path.relative(repoRoot, file).split(path.sep).join('/');
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const to = resolveSpecifier(from, fileName, repoRoot);
      if (to === undefined) throw new Error(`${from} imports ${fileName}, which names no file`);
      edges.push({ from, to });
    }
  }
  return edges;
}

/** A set of files that reach each other through imports, and one shortest loop through them to show it. */
export interface ImportCycle {
  readonly files: readonly string[];
  readonly loop: readonly string[];
}

/** The cycles among files: each strongly connected group of two or more files, or a file importing itself. */
export function importCycles(edges: readonly ImportEdge[]): ImportCycle[] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  // Tarjan's algorithm, iterative so a deep tree cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const groups: ImportCycle[] = [];
  let counter = 0;
  for (const start of next.keys()) {
    if (index.has(start)) continue;
    const work: { node: string; child: number }[] = [{ node: start, child: 0 }];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const children = next.get(frame.node) ?? [];
      if (frame.child < children.length) {
        const child = children[frame.child++]!;
        if (!index.has(child)) {
          index.set(child, counter);
          low.set(child, counter++);
          stack.push(child);
          onStack.add(child);
          work.push({ node: child, child: 0 });
        } else if (onStack.has(child)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(child)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) !== index.get(frame.node)) continue;
      const group: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        group.push(member);
      } while (member !== frame.node);
      const selfImport = (next.get(frame.node) ?? []).includes(frame.node);
      if (group.length > 1 || selfImport) groups.push({ files: group.sort(), loop: pathAround(group, next) });
    }
  }
  return groups;
}

/** One readable loop through a cycle's group: from its first file, following imports inside the group back to it. */
function pathAround(group: readonly string[], next: ReadonlyMap<string, readonly string[]>): string[] {
  const members = new Set(group);
  const first = [...group].sort()[0]!;
  // Breadth-first from the first file's imports back to the first file: the shortest loop through it.
  const cameFrom = new Map<string, string>();
  const queue = [first];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const child of next.get(node) ?? []) {
      if (!members.has(child) || cameFrom.has(child)) continue;
      cameFrom.set(child, node);
      if (child === first) queue.length = 0;
      else queue.push(child);
    }
  }
  const chain: string[] = [];
  for (let node = cameFrom.get(first)!; node !== first; node = cameFrom.get(node)!) chain.unshift(node);
  return [first, ...chain, first];
}

/**
 * The specifiers a file imports for use at run time: every `import`/`export … from` but those that
 * bring in types only (`import type`, or only `type` names). Those are what can do I/O when loaded.
 */
export function runtimeSpecifiers(repoRoot: string, file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(path.join(repoRoot, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement)) {
      const clause = statement.importClause;
      const typesOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined && clause.namedBindings !== undefined && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.length > 0 && clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typesOnly) found.push((statement.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier !== undefined && !statement.isTypeOnly) {
      found.push((statement.moduleSpecifier as ts.StringLiteral).text);
    }
  }
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] !== undefined && ts.isStringLiteral(node.arguments[0])) {
      found.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}
