import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Logger } from '../log.js';
import type { ChangeMessages } from '../messages/change-messages.js';
import type { Reason } from '../policy/decide.js';
import type { DecisionLog } from '../rollouts/decision-log.js';

export interface ExpireHoldsDeps {
  readonly db: Kysely<Database>;
  readonly messages: ChangeMessages;
  /** Where each expiry is recorded as a decision (and appended to the audit trail). */
  readonly decisions: DecisionLog;
  readonly logger: Logger;
  readonly policyVersion: () => string;
  readonly onReport: () => void;
}

/**
 * Ends rollouts that waited for an approval longer than `maxHoldMs` (since the merge, or since the
 * check at their start held them again): a merge nobody approved in
 * a day should not start by surprise a week later. Each expiry is reported on the change and
 * appended to the audit trail. Returns how many expired.
 */
export async function expireHolds(d: ExpireHoldsDeps, maxHoldMs: number): Promise<number> {
  return d.db.transaction().execute(async (trx) => {
    const expired = await trx
      .updateTable('rollouts')
      .set({ status: 'expired', decision: 'deny' })
      .where('status', '=', 'held')
      .where(sql<boolean>`created_at < now() - ${`${maxHoldMs} milliseconds`}::interval`)
      // a rollout sent back at its start waits from then, not from its merge
      .where(sql<boolean>`not exists (select 1 from decisions d where d.rollout_id = rollouts.id and d.trigger = 'start' and d.created_at >= now() - ${`${maxHoldMs} milliseconds`}::interval)`)
      .returningAll()
      .execute();
    for (const rollout of expired) {
      const hours = Math.round(maxHoldMs / 3_600_000);
      const reason: Reason = { code: 'expired', message: `no approval arrived within ${hours >= 1 ? `${hours}h` : `${Math.round(maxHoldMs / 60_000)}m`}; the rollout will not run` };
      await d.decisions.recordExpiry(rollout, reason, maxHoldMs, d.policyVersion(), trx);
      await d.messages.expired(rollout, reason, trx);
      d.logger.info({ rolloutId: rollout.id, rule: rollout.rule }, 'held rollout expired');
    }
    if (expired.length > 0) d.onReport();
    return expired.length;
  });
}
