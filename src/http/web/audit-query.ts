import type { AuditPageQuery } from '../../audit/audit-store.js';
import { QueryWords } from './query-words.js';

/** The audit page's query string (the same fields as `GET /api/audit`), or what is wrong with it in words. */
export function parseAuditPageQuery(query: Readonly<Record<string, unknown>>, kinds: readonly string[]): { readonly query: AuditPageQuery } | { readonly problems: readonly string[] } {
  const q = new QueryWords(query);
  const kind = q.choice('kind', kinds, 'a kind of audit entry');
  const rolloutId = q.whole('rollout', 'a rollout number (a whole number such as 42)');
  const after = q.whole('after', 'an entry number: the page link was changed; start again from the first page', { min: 0 });
  const limit = q.whole('limit', 'a page size from 1 to 500', { max: 500 }) ?? 100;
  if (q.problems.length > 0) return { problems: q.problems };
  return { query: { limit, ...(after !== undefined ? { after } : {}), ...(kind ? { kind } : {}), ...(rolloutId !== undefined ? { rolloutId } : {}) } };
}
