import { readFileSync } from 'node:fs';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';

/**
 * Reads a YAML file a command is given (`--groups`, policy test files) through its zod schema.
 * Returns the value, or every problem as `file: path (line N): problem`, the way
 * `rollgate policy check` reports policy files.
 */
export function readYamlFile<T>(file: string, schema: z.ZodType<T>): { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problems: readonly string[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, problems: [`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`] };
  }
  // the line counter gives each syntax error its line (e.pos is an offset into the text)
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter });
  if (doc.errors.length > 0) return { ok: false, problems: doc.errors.map((e) => `${file}: line ${lineCounter.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`) };
  const parsed = schema.safeParse(doc.toJS() ?? {});
  if (parsed.success) return { ok: true, value: parsed.data };
  const problems: string[] = [];
  for (const issue of parsed.error.issues) {
    for (const key of issue.code === 'unrecognized_keys' ? issue.keys : [undefined]) {
      const at = inDocument(doc, key === undefined ? issue.path : [...issue.path, key], text);
      problems.push(`${file}: ${formatPath(at.path)}${at.line ? ` (line ${at.line})` : ''}: ${issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message}`);
    }
  }
  return { ok: false, problems };
}

export function formatPath(p: readonly PropertyKey[]): string {
  if (p.length === 0) return '(top level)';
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i === 0 ? '' : '.'}${String(k)}`)).join('');
}

/**
 * A zod path as the user wrote the file, and its line. A schema may accept one item where it
 * takes a list (`approval: {…}` for `approval: [{…}]`) and wrap it first; the index it adds
 * then points into a map in the document and is left out, so the path names what is written.
 */
function inDocument(doc: Document, p: readonly PropertyKey[], text: string): { path: PropertyKey[]; line: number | undefined } {
  const path: PropertyKey[] = [];
  let node: unknown = doc.contents;
  for (const key of p) {
    if (typeof key === 'number' && isMap(node)) continue;
    path.push(key);
    if (isMap(node)) node = node.get(String(key), true);
    else if (isSeq(node)) node = node.get(Number(key), true);
    else node = undefined;
  }
  const offset = (node as { range?: [number, number, number] } | undefined)?.range?.[0];
  if (offset === undefined) return { path, line: undefined };
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return { path, line };
}
