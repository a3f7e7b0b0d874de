import type { Kysely } from 'kysely';
import type { Database, RolloutRow } from '../db/schema.js';
import { REVIEW_TAG } from './format-message.js';
import type { OutboxStore } from './outbox-store.js';

/**
 * The outbox key of a rollout's message: one per rollout, run and phase, so a resumed or retried
 * rollout never posts the same message twice.
 */
export function rolloutMessageKey(rollout: Pick<RolloutRow, 'id' | 'run'>, phase: string): string {
  return `rollout:${rollout.id}${rollout.run > 1 ? `:run${rollout.run}` : ''}:${phase}`;
}

/** Queues a review message on the rollout's change, inside `trx` when given. */
export async function enqueueRolloutMessage(outbox: OutboxStore, rollout: RolloutRow, phase: string, message: string, trx?: Kysely<Database>): Promise<void> {
  await outbox.enqueue({
    messageKey: rolloutMessageKey(rollout, phase),
    rolloutId: rollout.id,
    project: rollout.project,
    changeNumber: rollout.change_number,
    revision: rollout.revision,
    tag: REVIEW_TAG,
    message,
  }, trx);
}
