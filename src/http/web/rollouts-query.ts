import { ROLLOUT_STATUSES, type RolloutStatus } from '../../db/schema.js';
import type { RolloutListFilter } from '../../rollouts/rollout-reads.js';

/** The list page's filter and page, as `RolloutReads.list` takes it (`limit` is the page size). */
export type RolloutsQuery = RolloutListFilter & { readonly limit: number };

/** The query string's fields the list page reads; the form is filled again from these. */
export const ROLLOUTS_QUERY_FIELDS = ['status', 'environment', 'rule', 'project', 'change', 'owner', 'before', 'after', 'limit'] as const;

export const PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 200;

/**
 * The list page's query string, with what is wrong said in words a person can act on (the API's
 * parser answers in zod's terms, which suit a program). Blank fields mean no filter, since a GET
 * form sends its empty fields.
 */
export function parseRolloutsQuery(query: Readonly<Record<string, unknown>>): { readonly query: RolloutsQuery } | { readonly problems: readonly string[] } {
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const v = query[name];
    if (Array.isArray(v)) {
      problems.push(`${name}: give one value, not ${v.length}.`);
      return undefined;
    }
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
  };
  const whole = (name: string, what: string, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    const v = text(name);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) {
      problems.push(`${name}: “${v}” is not ${what}.`);
      return undefined;
    }
    return Number(v);
  };
  const statusText = text('status');
  const status = statusText !== undefined && (ROLLOUT_STATUSES as readonly string[]).includes(statusText) ? (statusText as RolloutStatus) : undefined;
  if (statusText !== undefined && status === undefined) problems.push(`status: “${statusText}” is not a rollout status; choose one of ${ROLLOUT_STATUSES.join(', ')}.`);
  const changeNumber = whole('change', 'a change number (a whole number such as 12345)');
  const before = whole('before', 'a rollout number: the page link was changed; start again from the first page');
  const after = whole('after', 'a rollout number: the page link was changed; start again from the first page');
  const limit = whole('limit', `a page size from 1 to ${MAX_PAGE_SIZE}`, MAX_PAGE_SIZE) ?? PAGE_SIZE;
  if (before !== undefined && after !== undefined) problems.push('before and after: a page is either older or newer than a rollout, not both; start again from the first page.');
  if (problems.length > 0) return { problems };
  return { query: { status, environment: text('environment'), rule: text('rule'), project: text('project'), changeNumber, owner: text('owner'), before, after, limit } };
}
