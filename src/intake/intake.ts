import { randomUUID } from 'node:crypto';
import type { NewEvent } from '../db/schema.js';
import { eventDedupKey, rejectedLineKey } from '../gerrit/change-key.js';
import { parseEventLine } from '../gerrit/gerrit-event.js';
import type { SplitLine } from '../gerrit/line-splitter.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { EventStore } from '../rollouts/event-store.js';

/** Where an event came from; kept with it for the audit and for debugging. */
export type EventSource = 'stream' | 'webhook' | 'replay' | 'backfill';

/** Sources that are Gerrit itself (its stream, or events made from its REST view); the others are only hints. */
const GERRIT_SOURCES: ReadonlySet<EventSource> = new Set(['stream', 'backfill']);

export interface IntakeOptions {
  /** Where lines are stored; only `insertNew` is used (replay gives its own, see src/replay/replay-intake.ts). */
  readonly store: Pick<EventStore, 'insertNew'>;
  readonly logger: Logger;
  /** Delay before a merge is decided: Gerrit's REST view can lag the event (Zuul waits 10 s). */
  readonly settleMs: number;
  /** Called after new events are stored, to wake the processor. */
  readonly onStored: () => void;
  /** Counts received, stored, rejected and deduplicated events. */
  readonly metrics?: Metrics;
  /**
   * Batches written at the same time (default 1). More than one overlaps parsing with the
   * database and spreads a backlog over several connections; only for a pooled PostgreSQL.
   */
  readonly parallelWrites?: number;
}

/** Lines per insert: big enough to amortise a round trip, small enough to keep a statement cheap. */
const BATCH_SIZE = 500;

type Queued = { line: SplitLine; source: EventSource; receivedAt: Date };

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
  /** Accepted lines; those before `#head` are taken (a batch is read off by index, not spliced off the front, so a backlog costs nothing per batch). */
  #queue: Queued[] = [];
  #head = 0;
  /** Lines taken off the queue by a write still in flight. */
  #inFlight = 0;
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
    return this.#queue.length - this.#head + this.#inFlight;
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

  /**
   * Writes the queue out in batches, up to `parallelWrites` at once. A batch that fails goes back
   * to the front of the queue and the writer backs off: a database restart must not lose events.
   */
  async #drain(): Promise<void> {
    const parallel = Math.max(1, this.#o.parallelWrites ?? 1);
    let failures = 0;
    const writes = new Set<Promise<void>>();
    const start = () => {
      const batch = this.#take();
      this.#inFlight += batch.length;
      const write: Promise<void> = this.#write(batch)
        .then(() => {
          failures = 0;
        })
        .catch((err: unknown) => {
          this.#putBack(batch);
          failures++;
          this.#o.logger.error({ err, queued: this.pending }, 'storing events failed; will retry');
        })
        .finally(() => {
          this.#inFlight -= batch.length;
          writes.delete(write);
        });
      writes.add(write);
    };
    while (this.#queued() > 0 || writes.size > 0) {
      if (failures > 0 && writes.size === 0) await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 10_000)));
      // after a failure, one batch at a time until the database answers again
      const limit = failures > 0 ? 1 : parallel;
      while (this.#queued() > 0 && writes.size < limit) start();
      if (writes.size > 0) await Promise.race(writes);
    }
  }

  #queued(): number {
    return this.#queue.length - this.#head;
  }

  /** The next batch off the front of the queue; the taken part is dropped once it is most of the array. */
  #take(): Queued[] {
    const batch = this.#queue.slice(this.#head, this.#head + BATCH_SIZE);
    this.#head += batch.length;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 16 * BATCH_SIZE && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }

  /** A batch that failed goes back to the front, ahead of everything accepted since. */
  #putBack(batch: readonly Queued[]): void {
    this.#queue = [...batch, ...this.#queue.slice(this.#head)];
    this.#head = 0;
  }

  async #write(batch: readonly Queued[]): Promise<void> {
    const rows = batch.map((e) => toRow(e.line, e.source, e.receivedAt, this.#o.settleMs));
    if ((await this.#store(rows)) > 0) this.#o.onStored();
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
  const key = parsed.value.type === 'dropped-output' ? `dropped-output:${receivedAt.toISOString()}:${randomUUID()}` : eventDedupKey(parsed.value, line.text, GERRIT_SOURCES.has(source) ? undefined : source);
  // each row is written out whole, not spread from a shared part: spreading costs more than parsing the line
  if (parsed.kind === 'other') {
    return { dedup_key: key, source, type: parsed.type, raw: line.text, status: 'ignored', reason: `event type ${parsed.type} is not used by rollgate`, received_at: receivedAt, event_created_on: createdOn, processed_at: receivedAt };
  }
  const notBefore = parsed.event.type === 'change-merged' ? new Date(receivedAt.getTime() + settleMs) : receivedAt;
  return { dedup_key: key, source, type: parsed.event.type, raw: line.text, status: 'pending', reason: null, received_at: receivedAt, event_created_on: createdOn, not_before: notBefore };
}
