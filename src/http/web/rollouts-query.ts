import { ROLLOUT_STATUSES } from '../../db/schema.js';
import type { RolloutListFilter } from '../../rollouts/rollout-reads.js';
import { QueryWords } from './query-words.js';

/** The list page's filter and page, as `RolloutReads.list` takes it (`limit` is the page size). */
export type RolloutsQuery = RolloutListFilter & { readonly limit: number };

/** The query string's fields the list page reads; the form is filled again from these. */
export const ROLLOUTS_QUERY_FIELDS = ['status', 'environment', 'rule', 'project', 'change', 'owner', 'before', 'after', 'limit'] as const;

export const PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 200;
const BROKEN_LINK = 'a rollout number: the page link was changed; start again from the first page';

/** The list page's query string, or what is wrong with it in words. */
export function parseRolloutsQuery(query: Readonly<Record<string, unknown>>): { readonly query: RolloutsQuery } | { readonly problems: readonly string[] } {
  const q = new QueryWords(query);
  const status = q.choice('status', ROLLOUT_STATUSES, 'a rollout status');
  const changeNumber = q.whole('change', 'a change number (a whole number such as 12345)');
  const before = q.whole('before', BROKEN_LINK);
  const after = q.whole('after', BROKEN_LINK);
  const limit = q.whole('limit', `a page size from 1 to ${MAX_PAGE_SIZE}`, { max: MAX_PAGE_SIZE }) ?? PAGE_SIZE;
  if (before !== undefined && after !== undefined) q.problems.push('before and after: a page is either older or newer than a rollout, not both; start again from the first page.');
  const filter = { status, environment: q.text('environment'), rule: q.text('rule'), project: q.text('project'), changeNumber, owner: q.text('owner'), before, after, limit };
  return q.problems.length > 0 ? { problems: q.problems } : { query: filter };
}
