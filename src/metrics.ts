import { sql, type Kysely } from 'kysely';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Database, OutboxStatus, RolloutStatus } from './db/schema.js';

const ROLLOUT_STATUSES: readonly RolloutStatus[] = ['held', 'expired', 'denied', 'queued', 'running', 'waiting', 'succeeded', 'failed', 'rolled_back', 'superseded', 'cancelled'];
const OUTBOX_STATUSES: readonly OutboxStatus[] = ['pending', 'sent', 'failed'];

/**
 * rollgate's Prometheus metrics (`GET /metrics`). Each service instance has its own registry, so
 * several services in one process (tests, replicas in one test) never share counters. Stages get
 * this object through their deps; all of them accept it as optional, so the CLI commands and unit
 * tests that build a stage alone need none. Counts of rollouts and queued reports are read from
 * the database at scrape time, so they are right whichever replica did the work.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly eventsReceived = this.#counter('rollgate_events_received_total', 'Event lines received, by event type and source (stream, backfill, webhook, replay).', ['type', 'source']);
  readonly eventsStored = this.#counter('rollgate_events_stored_total', 'Events stored as new rows (including rejected and ignored ones), by type and source.', ['type', 'source']);
  readonly eventsRejected = this.#counter('rollgate_events_rejected_total', 'Lines that were not a valid event (stored as rejected with the reason), by type and source.', ['type', 'source']);
  readonly eventsDeduplicated = this.#counter('rollgate_events_deduplicated_total', 'Events not stored because the same event was stored before, by type and source.', ['type', 'source']);
  readonly backfills = this.#counter('rollgate_backfills_total', 'Back-fill sweeps over Gerrit REST, by result (ok, failed).', ['result']);
  readonly backfillMerges = this.#counter('rollgate_backfill_merges_found_total', 'Merges a back-fill found that rollgate had not stored yet (missed by the stream).', []);
  readonly streamConnected = new Gauge({ name: 'rollgate_stream_connected', help: '1 while the Gerrit stream-events SSH session is connected, else 0.', registers: [this.registry] });
  readonly streamLeader = new Gauge({ name: 'rollgate_stream_leader', help: '1 while this replica is the one that holds the Gerrit stream (leader election over PostgreSQL), else 0.', registers: [this.registry] });
  readonly decisions = this.#counter('rollgate_decisions_total', 'Decisions stored, by outcome (allow, hold, deny, ignore) and trigger (merge, comment, api, vote, expiry, replay).', ['outcome', 'trigger']);
  readonly stepDuration = new Histogram({
    name: 'rollgate_step_duration_seconds',
    help: 'How long workflow steps took (all attempts), by kind (run, http, wait) and final status; undo and rollback steps included.',
    labelNames: ['kind', 'status'],
    buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [this.registry],
  });
  readonly policyLoaded = new Gauge({ name: 'rollgate_policy_info', help: 'The policy in use: 1 for its version (a digest of the policy files), absent for any other.', labelNames: ['version'], registers: [this.registry] });
  readonly policyReloadFailures = this.#counter('rollgate_policy_reload_failures_total', 'Policy reloads refused because the new policy did not load (the one in use stayed).', []);
  readonly outboxSent = this.#counter('rollgate_outbox_sent_total', 'Review messages Gerrit accepted.', []);
  readonly outboxRetries = this.#counter('rollgate_outbox_retries_total', 'Failed posts of a review message that will be retried, by HTTP status (or "network").', ['status']);
  readonly outboxFailures = this.#counter('rollgate_outbox_failures_total', 'Review messages Gerrit refused for good (not retried), by HTTP status.', ['status']);

  constructor(db?: Kysely<Database>) {
    this.streamConnected.set(0);
    this.streamLeader.set(0);
    if (!db) return;
    const grouped = async (table: 'rollouts' | 'outbox', gauge: Gauge<'status'>, statuses: readonly string[]) => {
      gauge.reset();
      // a database that does not answer leaves the gauge empty for this scrape; /readyz says why
      const result = await sql<{ status: string; n: number }>`select status, count(*)::integer as n from ${sql.table(table)} group by status`.execute(db).catch(() => undefined);
      if (!result) return;
      for (const s of statuses) gauge.set({ status: s }, 0);
      for (const row of result.rows) gauge.set({ status: row.status }, Number(row.n));
    };
    new Gauge({
      name: 'rollgate_rollouts',
      help: 'Rollouts in the database, by status.',
      labelNames: ['status'],
      registers: [this.registry],
      async collect() {
        await grouped('rollouts', this, ROLLOUT_STATUSES);
      },
    });
    new Gauge({
      name: 'rollgate_outbox_messages',
      help: 'Review messages in the outbox, by status; status="pending" is the depth of the queue to Gerrit.',
      labelNames: ['status'],
      registers: [this.registry],
      async collect() {
        await grouped('outbox', this, OUTBOX_STATUSES);
      },
    });
  }

  /** The exposition text and its content type, for `GET /metrics`. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  #counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }
}
