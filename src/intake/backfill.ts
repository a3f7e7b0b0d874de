import { z } from 'zod';
import type { GerritClient } from '../gerrit/gerrit-client.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { CheckpointStore } from '../rollouts/checkpoint-store.js';
import type { Intake } from './intake.js';

/** The back-fill's checkpoint: the moment (Gerrit's clock) up to which merges were looked for. */
const CheckpointSchema = z.object({ at: z.iso.datetime({ offset: true }) });

export interface BackfillOptions {
  readonly gerrit: GerritClient;
  readonly intake: Intake;
  readonly checkpoints: CheckpointStore;
  readonly logger: Logger;
  /** Looks this far before the checkpoint, for clock skew and merges in flight at the last sweep. */
  readonly marginMs?: number;
  /** Wait before trying again after a failed sweep (Gerrit down during a reconnect). */
  readonly retryMs?: number;
  readonly now?: () => Date;
  /** Counts sweeps and the merges they found. */
  readonly metrics?: Metrics;
}

const CHECKPOINT = 'backfill.merged-since';

/**
 * The stream is a fast hint, not the truth: after every (re)connect, rollgate asks Gerrit REST
 * for changes merged since the last sweep and feeds each through the same intake as a
 * synthesized `change-merged` event. The dedup key makes a merge the stream already delivered a
 * no-op. The very first sweep only sets the checkpoint, so a new install never rolls out history.
 */
export class Backfill {
  readonly #o: BackfillOptions;
  #running: Promise<void> | undefined;
  #again = false;
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: BackfillOptions) {
    this.#o = options;
  }

  /** Starts a sweep (or one more after the current one); never throws. */
  trigger(reason: string): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop(reason).finally(() => {
      this.#running = undefined;
    });
  }

  /** Resolves when no sweep is running. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    await this.idle();
  }

  async #loop(reason: string): Promise<void> {
    do {
      this.#again = false;
      try {
        await this.sweep(reason);
      } catch (err) {
        this.#o.metrics?.backfills.inc({ result: 'failed' });
        const retryMs = this.#o.retryMs ?? 30_000;
        this.#o.logger.warn({ err, reason, retryInMs: retryMs }, 'back-fill failed; will retry');
        clearTimeout(this.#retry);
        this.#retry = setTimeout(() => this.trigger(`retry after: ${reason}`), retryMs);
        return;
      }
    } while (this.#again && !this.#stopped);
  }

  /** One sweep: returns how many merges were new to rollgate. */
  async sweep(reason: string): Promise<number> {
    const now = (this.#o.now ?? (() => new Date()))();
    const checkpoint = await this.#o.checkpoints.get(CHECKPOINT, CheckpointSchema);
    if (!checkpoint) {
      await this.#o.checkpoints.set(CHECKPOINT, { at: now.toISOString() });
      this.#o.metrics?.backfills.inc({ result: 'ok' });
      this.#o.logger.info({ reason, since: now.toISOString() }, 'back-fill checkpoint set; earlier merges are not rolled out');
      return 0;
    }
    const since = new Date(new Date(checkpoint.at).getTime() - (this.#o.marginMs ?? 5 * 60_000));
    const merged = await this.#o.gerrit.queryMergedSince(since);
    let added = 0;
    // Gerrit lists newest-updated first; stored oldest merge first, they are decided in merge order
    const oldestFirst = [...merged].sort((a, b) => a.submitted.getTime() - b.submitted.getTime() || a.number - b.number);
    for (const c of oldestFirst) {
      const event = {
        type: 'change-merged',
        change: { project: c.project, branch: c.branch, id: c.changeId, number: c.number, subject: c.subject, status: 'MERGED' },
        patchSet: { number: c.currentPatchSet, revision: c.currentRevision },
        eventCreatedOn: Math.floor(c.submitted.getTime() / 1000),
        rollgateBackfill: reason,
      };
      if ((await this.#o.intake.add(JSON.stringify(event), 'backfill')).stored) added++;
    }
    // the next sweep starts from this one's start: anything merged while it ran is looked at again
    await this.#o.checkpoints.set(CHECKPOINT, { at: now.toISOString() });
    this.#o.metrics?.backfills.inc({ result: 'ok' });
    this.#o.metrics?.backfillMerges.inc(added);
    this.#o.logger.info({ reason, since: since.toISOString(), seen: merged.length, added }, 'back-fill done');
    return added;
  }
}
