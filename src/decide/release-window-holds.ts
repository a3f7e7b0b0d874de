import { sql } from 'kysely';
import { decideHeldAgain } from '../actions/decide-held-again.js';
import { recordRedecision } from '../actions/record-decision.js';
import type { Reason } from '../policy/decide.js';
import { closedWindow } from '../policy/windows.js';
import type { DecideDeps } from './decide-deps.js';

export type ReleaseDeps = Pick<DecideDeps, 'db' | 'rollouts' | 'decisions' | 'messages' | 'approvals' | 'gerrit' | 'policy' | 'logger' | 'metrics' | 'onQueued' | 'onReport'>;

/**
 * Rollouts the check at their start sent back to held for a closed window are decided again
 * once their rule's windows are open: they were allowed before the window closed, so nobody has
 * to approve them again for it. Only those whose stored reasons name a closed window are looked
 * at, and Gerrit is read only once the window is open. Returns how many were decided again.
 */
export async function releaseWindowHolds(d: ReleaseDeps, at: Date): Promise<number> {
  const held = await d.db
    .selectFrom('rollouts')
    .selectAll()
    .where('status', '=', 'held')
    .where(sql<boolean>`reasons::text like '%"window-closed"%'`)
    .where(({ exists, selectFrom, ref }) => exists(selectFrom('decisions').select('id').whereRef('decisions.rollout_id', '=', ref('rollouts.id')).where('trigger', '=', 'start')))
    .orderBy('id')
    .execute();
  const policy = d.policy();
  let released = 0;
  for (const rollout of held) {
    const rule = policy.rollouts.find((r) => r.name === rollout.rule);
    if (!rule || closedWindow(rule.windows, at)) continue;
    const change = await d.gerrit.getChange(rollout.project, rollout.change_number);
    const again = await decideHeldAgain(d, { policy, rollout, rule, change, at });
    // still closed by the rule's own reckoning: nothing to say yet
    if ((again.result.reasons as readonly Reason[]).some((r) => r.code === 'window-closed')) continue;
    const updated = await d.db
      .transaction()
      .execute((trx) => recordRedecision(d, { rollout, rule, change, ...again, trigger: 'window', actor: undefined, policyVersion: policy.version, keySuffix: `window:${at.toISOString()}` }, trx));
    if (!updated) continue;
    released++;
    d.metrics?.decisions.inc({ outcome: again.result.outcome, trigger: 'window' });
    d.logger.info({ rolloutId: rollout.id, outcome: again.result.outcome }, 'held rollout decided again: its window opened');
    if (again.result.outcome === 'allow') d.onQueued();
    else d.onReport();
  }
  return released;
}
