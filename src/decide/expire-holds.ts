import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Logger } from '../log.js';
import { expiredMessage, REVIEW_TAG } from '../report/format-message.js';
import type { OutboxStore } from '../report/outbox-store.js';
import { rolloutSummary } from '../report/rollout-summary.js';

export interface ExpireHoldsDeps {
  readonly db: Kysely<Database>;
  readonly outbox: OutboxStore;
  readonly logger: Logger;
  readonly publicUrl: string | undefined;
  readonly policyVersion: () => string;
  readonly onReport: () => void;
}

/**
 * Ends rollouts that waited for an approval longer than `maxHoldMs`: a merge nobody approved in
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
      .returningAll()
      .execute();
    for (const rollout of expired) {
      const hours = Math.round(maxHoldMs / 3_600_000);
      const reason = { code: 'expired', message: `no approval arrived within ${hours >= 1 ? `${hours}h` : `${Math.round(maxHoldMs / 60_000)}m`}; the rollout will not run` };
      await trx
        .insertInto('decisions')
        .values({
          rollout_id: rollout.id,
          rule: rollout.rule,
          project: rollout.project,
          change_number: rollout.change_number,
          revision: rollout.revision,
          trigger: 'expiry',
          actor: null,
          outcome: 'deny',
          reasons: JSON.stringify([reason]),
          inputs: JSON.stringify({ at: new Date().toISOString(), heldSince: rollout.created_at, maxHoldMs }),
          policy_version: d.policyVersion(),
        })
        .execute();
      await d.outbox.enqueue(
        {
          messageKey: `rollout:${rollout.id}:expired`,
          rolloutId: rollout.id,
          project: rollout.project,
          changeNumber: rollout.change_number,
          revision: rollout.revision,
          tag: REVIEW_TAG,
          message: expiredMessage(rolloutSummary({ ...rollout, reasons: [reason] }, d.publicUrl)),
        },
        trx,
      );
      d.logger.info({ rolloutId: rollout.id, rule: rollout.rule }, 'held rollout expired');
    }
    if (expired.length > 0) d.onReport();
    return expired.length;
  });
}
