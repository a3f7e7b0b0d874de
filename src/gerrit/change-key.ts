import * as crypto from 'node:crypto';

/**
 * Gerrit events carry no id, so rollgate derives one. Events it acts on are keyed by what they are
 * about, so the same event from the stream or a back-fill gets the same key whatever its JSON
 * formatting: a merge by change and merged revision, a comment by change, patch set, author, time
 * and text. Any other event (stored only for the record) by a digest of its line.
 *
 * `hintFrom` names a source that is not Gerrit itself (a webhook: anyone with the secret can say
 * anything): its keys are kept apart, so a forged or early delivery can never make the real
 * stream event look like a duplicate and be dropped. The same merge from both is then stored
 * twice and decided once (a rollout is keyed by rule, change and REST's merged revision), and a
 * comment acts once (each Gerrit message is consumed once).
 */
export function eventDedupKey(value: Record<string, unknown>, line?: string, hintFrom?: string): string {
  const key = gerritEventKey(value, line);
  return hintFrom === undefined ? key : `${hintFrom}:${key}`;
}

function gerritEventKey(value: Record<string, unknown>, line?: string): string {
  const change = value.change as { project?: unknown; number?: unknown } | undefined;
  const patchSet = value.patchSet as { number?: unknown; revision?: unknown } | undefined;
  if (value.type === 'change-merged' && change && patchSet && typeof patchSet.revision === 'string') {
    return `change-merged:${String(change.project)}~${String(change.number)}:${patchSet.revision}`;
  }
  if (value.type === 'comment-added' && change && patchSet) {
    const author = value.author as { username?: unknown; email?: unknown } | undefined;
    const who = String(author?.username ?? author?.email ?? '');
    return `comment-added:${String(change.project)}~${String(change.number)}/${String(patchSet.number)}:${who}:${String(value.eventCreatedOn)}:${sha256(String(value.comment ?? ''))}`;
  }
  return `${String(value.type)}:${sha256(line ?? canonicalJson(value))}`;
}

/** Key for a line that could not be parsed: its bytes, so the same bad line is stored once. */
export function rejectedLineKey(line: string): string {
  return `rejected:${sha256(line)}`;
}

/** Node's one-shot digest (20.12 and later) where there is one: a third cheaper than a Hash object per line. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

export function sha256(text: string): string {
  return oneShotHash ? oneShotHash('sha256', text, 'hex') : crypto.createHash('sha256').update(text).digest('hex');
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
