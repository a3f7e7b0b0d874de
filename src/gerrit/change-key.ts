import { createHash } from 'node:crypto';

/**
 * Gerrit events carry no id, so rollgate derives one. A change-merged event is identified by the
 * change and the merged revision (a re-delivery or a back-fill of the same merge gets the same
 * key); any other event by a digest of its canonical JSON, so two different events never collide.
 */
export function eventDedupKey(value: Record<string, unknown>): string {
  if (value.type === 'change-merged') {
    const change = value.change as { project?: unknown; number?: unknown } | undefined;
    const patchSet = value.patchSet as { revision?: unknown } | undefined;
    if (change && patchSet && typeof patchSet.revision === 'string') {
      return `change-merged:${String(change.project)}~${String(change.number)}:${patchSet.revision}`;
    }
  }
  return `${String(value.type)}:${sha256(canonicalJson(value))}`;
}

/** Key for a line that could not be parsed: its bytes, so the same bad line is stored once. */
export function rejectedLineKey(line: string): string {
  return `rejected:${sha256(line)}`;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON with object keys sorted at every depth, so equal events hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
