import { sql, type Kysely } from 'kysely';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ROLLOUT_STATUSES, type Database, type OutboxStatus, type StepStatus } from './db/schema.js';
import { SUBSCRIBED_EVENT_TYPES } from './gerrit/gerrit-event.js';
import { rollgateVersion } from './package-version.js';
import type { DecisionEntry } from './rollouts/decision-log.js';

const OUTBOX_STATUSES: readonly OutboxStatus[] = ['pending', 'sent', 'failed'];

// The label values each labelled series starts with at 0, so a dashboard or an alert sees 0, not
// "no data", before the first event of its kind (a rate over a series born at 1 misses that 1).
const EVENT_SOURCES = ['stream', 'backfill', 'webhook', 'replay'] as const;
const DECISION_OUTCOMES = ['allow', 'hold', 'deny', 'ignore'] as const;
const DECISION_TRIGGERS: readonly DecisionEntry['trigger'][] = ['merge', 'comment', 'api', 'command', 'vote', 'expiry', 'replay', 'start', 'window'];
const STEP_KINDS = ['run', 'http', 'wait'] as const;
/** How a step can end in the step runner (`running` means it did not end there and is not observed). */
const STEP_ENDS: readonly StepStatus[] = ['succeeded', 'failed', 'cancelled'];
const ROLLOUT_ENDS = ['succeeded', 'failed', 'rolled_back', 'cancelled'] as const;
type RolloutEnd = (typeof ROLLOUT_ENDS)[number];

/** From seconds to a day: a merge held for an approval can wait hours before it starts. */
const LONG_WAIT_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400];

/** rollgate's version, from its package.json (read once; the folder depth differs between src/ and dist/src/). */
const VERSION = rollgateVersion();

/**
 * rollgate's Prometheus metrics (`GET /metrics`). Each service instance has its own registry, so
 * several services in one process (tests, replicas in one test) never share counters. Stages get
 * this object through their deps; all of them accept it as optional, so the CLI commands and unit
 * tests that build a stage alone need none. Counts of rollouts and queued reports are read from
 * the database at scrape time, so they are right whichever replica did the work. Every series whose
 * label values are known starts at 0, and the process's own metrics (CPU, memory, event loop) come
 * under their standard names.
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
  readonly decisions = this.#counter('rollgate_decisions_total', 'Decisions stored, by outcome (allow, hold, deny, ignore) and trigger (merge, comment, api, vote, expiry, replay, start, window).', ['outcome', 'trigger']);
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
  readonly mergeToStart = new Histogram({
    name: 'rollgate_merge_to_start_seconds',
    help: 'From the merge (as rollgate recorded it) to the first start of a rollout, in seconds; includes any wait for an approval and for the environment.',
    buckets: LONG_WAIT_BUCKETS,
    registers: [this.registry],
  });
  readonly rolloutDuration = new Histogram({
    name: 'rollgate_rollout_duration_seconds',
    help: 'From the first start of a rollout to its end, in seconds, by final status (succeeded, failed, rolled_back, cancelled); time parked at an approval gate counts.',
    labelNames: ['status'],
    buckets: LONG_WAIT_BUCKETS,
    registers: [this.registry],
  });

  constructor(db?: Kysely<Database>) {
    // the standard names (process_*, nodejs_*), which the usual Node.js dashboards expect
    collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: 'rollgate_build_info', help: 'Always 1; the rollgate version and the Node.js version it runs on.', labelNames: ['version', 'node'], registers: [this.registry] }).set({ version: VERSION, node: process.version }, 1);
    this.streamConnected.set(0);
    this.streamLeader.set(0);
    this.#startAtZero();
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
    new Gauge({
      name: 'rollgate_events_pending',
      help: 'Stored events not yet decided on (status pending): the backlog of the decide stage. NaN when the database does not answer.',
      registers: [this.registry],
      async collect() {
        const result = await sql<{ n: number }>`select count(*)::integer as n from events where status = 'pending'`.execute(db).catch(() => undefined);
        this.set(result ? Number(result.rows[0]?.n ?? 0) : NaN);
      },
    });
  }

  /** Records how long a merge waited for its rollout's first start (a skewed Gerrit clock counts as 0). */
  rolloutStarted(mergedAt: Date, startedAt: Date | null): void {
    this.mergeToStart.observe(Math.max(0, ((startedAt ?? new Date()).getTime() - mergedAt.getTime()) / 1000));
  }

  /** Records how long a finished rollout ran (`ms` from its first start to its end). */
  rolloutFinished(status: RolloutEnd, ms: number): void {
    this.rolloutDuration.observe({ status }, ms / 1000);
  }

  /** Every series whose label values are known in advance, at 0. */
  #startAtZero(): void {
    for (const type of SUBSCRIBED_EVENT_TYPES) {
      for (const source of EVENT_SOURCES) {
        for (const counter of [this.eventsReceived, this.eventsStored, this.eventsRejected, this.eventsDeduplicated]) counter.inc({ type, source }, 0);
      }
    }
    for (const result of ['ok', 'failed']) this.backfills.inc({ result }, 0);
    for (const outcome of DECISION_OUTCOMES) for (const trigger of DECISION_TRIGGERS) this.decisions.inc({ outcome, trigger }, 0);
    for (const kind of STEP_KINDS) for (const status of STEP_ENDS) this.stepDuration.zero({ kind, status });
    for (const status of ROLLOUT_ENDS) this.rolloutDuration.zero({ status });
    // HTTP statuses are open-ended; only the network failure is known before it happens
    this.outboxRetries.inc({ status: 'network' }, 0);
  }

  /** The exposition text and its content type, for `GET /metrics`. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  #counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }
}
