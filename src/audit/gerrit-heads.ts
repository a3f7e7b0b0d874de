import type { GerritClient } from '../gerrit/gerrit-client.js';
import type { RecordedHead } from './audit-chain.js';
import { auditHeadsIn } from './audit-head-line.js';
import type { AuditStore } from './audit-store.js';

/** Heads found in rollgate's review messages, and on how many changes. */
export interface PostedHeads {
  readonly heads: readonly RecordedHead[];
  readonly changes: number;
}

/** Margin before the trail's first row: a change merged shortly before it may carry its first messages. */
const MERGED_MARGIN_MS = 7 * 24 * 3600_000;

/**
 * Every audit head rollgate posted in Gerrit (see audit-head-line.ts), read back over REST from
 * the messages its own account (`rollgateUser`, by account id) wrote: another account's text
 * that looks like a head line is not rollgate's. The changes looked at are the ones the
 * trail names, and, because deleted rows name no change, every change Gerrit says merged since
 * a week before the trail's first row: rollgate posts only on merged changes.
 */
export async function headsPostedInGerrit(gerrit: Pick<GerritClient, 'queryMergedSince' | 'getChangeMessages' | 'getAccount'>, rollgateUser: string, trail: AuditStore): Promise<PostedHeads> {
  const self = await gerrit.getAccount(rollgateUser);
  const first = await trail.firstAt();
  const since = new Date(first ? first.getTime() - MERGED_MARGIN_MS : 0);
  const changes = new Map<string, { project: string; number: number }>();
  for (const c of await trail.changes()) changes.set(`${c.project}~${c.number}`, c);
  for (const c of await gerrit.queryMergedSince(since)) changes.set(`${c.project}~${c.number}`, { project: c.project, number: c.number });

  const heads: RecordedHead[] = [];
  let withHeads = 0;
  for (const [key, c] of changes) {
    const messages = await gerrit.getChangeMessages(c.project, c.number);
    const found = messages.filter((m) => m.authorAccountId === self.accountId).flatMap((m) => auditHeadsIn(m.message));
    if (found.length > 0) withHeads++;
    for (const h of found) heads.push({ ...h, source: `in a review message on ${key}` });
  }
  return { heads, changes: withHeads };
}
