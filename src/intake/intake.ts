import { randomUUID } from 'node:crypto';
import type { NewEvent } from '../db/schema.js';
import { eventDedupKey, rejectedLineKey } from '../gerrit/change-key.js';
import { parseEventLine } from '../gerrit/gerrit-event.js';
import type { SplitLine } from '../gerrit/line-splitter.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { EventStore } from './event-store.js';

/** Where an event came from; kept with it for the audit and for debugging. */
export type EventSource = 'stream' | 'webhook' | 'replay' | 'backfill';

export interface IntakeOptions {
  readonly store: EventStore;
  readonly logger: Logger;
  /** Delay before a merge is decided: Gerrit's REST view can lag the event (Zuul waits 10 s). */
  readonly settleMs: number;
  /** Called after new events are stored, to wake the processor. */
  readonly onStored: () => void;
  /** Counts received, stored, rejected and deduplicated events. */
  readonly metrics?: Metrics;
}

/**
 * The single entry point for events, whatever the transport. It turns each line into an `events`
 * row (pending, ignored or rejected with the reason) and stores it before anything interprets it.
 *
 * `accept` is what the SSH reader calls: it only queues the line and returns, because Gerrit
 * drops events for readers that fall behind. A background writer parses and stores the queue in
 * batches, so a slow database slows the writer, never the socket.
 */
export class Intake {
  readonly #o: IntakeOptions;
  #queue: Array<{ line: SplitLine; source: EventSource; receivedAt: Date }> = [];
  #writing: Promise<void> | undefined;

  constructor(options: IntakeOptions) {
    this.#o = options;
  }

  /** Queues one framed line; never blocks and never throws. */
  accept(line: SplitLine, source: EventSource): void {
    this.#queue.push({ line, source, receivedAt: new Date() });
    this.#writing ??= this.#drain().finally(() => {
      this.#writing = undefined;
    });
  }

  /** Stores one line now (webhooks, replay, back-fill): resolves once it is durable. */
  async add(text: string, source: EventSource): Promise<{ stored: boolean; row: NewEvent }> {
    const row = toRow({ kind: 'line', text }, source, new Date(), this.#o.settleMs);
    const stored = (await this.#store([row])) > 0;
    if (stored) this.#o.onStored();
    return { stored, row };
  }

  /** Lines accepted but not yet stored (kept in memory while the database cannot be written). */
  get pending(): number {
    return this.#queue.length;
  }

  /** Resolves when everything accepted so far is stored. */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /** Stores the rows and counts them; returns how many were new. */
  async #store(rows: readonly NewEvent[]): Promise<number> {
    const fresh = await this.#o.store.insertNew(rows);
    const m = this.#o.metrics;
    if (m) {
      const counted = new Set<string>();
      for (const row of rows) {
        const labels = { type: row.type ?? 'unknown', source: row.source };
        m.eventsReceived.inc(labels);
        if (row.status === 'rejected') m.eventsRejected.inc(labels);
        // the first of repeats within one batch is the stored one
        if (fresh.has(row.dedup_key) && !counted.has(row.dedup_key)) {
          counted.add(row.dedup_key);
          m.eventsStored.inc(labels);
        } else m.eventsDeduplicated.inc(labels);
      }
    }
    return fresh.size;
  }

  async #drain(): Promise<void> {
    let failures = 0;
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, 200);
      try {
        const rows = batch.map((e) => toRow(e.line, e.source, e.receivedAt, this.#o.settleMs));
        const fresh = await this.#store(rows);
        this.#queue.splice(0, batch.length);
        failures = 0;
        if (fresh > 0) this.#o.onStored();
      } catch (err) {
        // keep the lines and try again: a database restart must not lose events
        failures++;
        this.#o.logger.error({ err, queued: this.#queue.length }, 'storing events failed; will retry');
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 10_000)));
      }
    }
  }
}

function toRow(line: SplitLine, source: EventSource, receivedAt: Date, settleMs: number): NewEvent {
  if (line.kind === 'oversize') {
    const reason = `line of ${line.bytes} bytes is over the size limit; kept its first characters`;
    return { dedup_key: rejectedLineKey(`${receivedAt.toISOString()}:${line.head}`), source, type: null, raw: line.head, status: 'rejected', reason, received_at: receivedAt, event_created_on: null, processed_at: receivedAt };
  }
  const parsed = parseEventLine(line.text);
  if (parsed.kind === 'invalid') {
    return { dedup_key: rejectedLineKey(line.text), source, type: parsed.type, raw: line.text, status: 'rejected', reason: parsed.reason, received_at: receivedAt, event_created_on: null, processed_at: receivedAt };
  }
  const createdOn = typeof parsed.value.eventCreatedOn === 'number' ? parsed.value.eventCreatedOn : null;
  // every dropped-output is news (Gerrit lost events again), so it is never a duplicate of an earlier one
  const key = parsed.value.type === 'dropped-output' ? `dropped-output:${receivedAt.toISOString()}:${randomUUID()}` : eventDedupKey(parsed.value, line.text);
  const base = { dedup_key: key, source, raw: line.text, received_at: receivedAt, event_created_on: createdOn };
  if (parsed.kind === 'other') {
    return { ...base, type: parsed.type, status: 'ignored', reason: `event type ${parsed.type} is not used by rollgate`, processed_at: receivedAt };
  }
  const notBefore = parsed.event.type === 'change-merged' ? new Date(receivedAt.getTime() + settleMs) : receivedAt;
  return { ...base, type: parsed.event.type, status: 'pending', reason: null, not_before: notBefore };
}
