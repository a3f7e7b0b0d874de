import type { Kysely } from 'kysely';
import type { AuditTrail } from '../audit/audit-trail.js';
import type { Database } from '../db/schema.js';
import type { RolloutStore } from '../execute/rollout-store.js';
import type { GerritClient } from '../gerrit/gerrit-client.js';
import type { EventStore } from '../intake/event-store.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { OutboxStore } from '../report/outbox-store.js';
import type { ApprovalStore } from './approval-store.js';
import type { DecisionLog } from './decision-log.js';
import type { Policy } from './policy-config.js';
import type { Actor, OperationResult } from './who-may-act.js';

// The decide stage's dependencies and the shapes its handlers share. They live apart from the
// event processor so that the handlers it calls can name them without importing it back (a cycle).

export interface DecideDeps {
  readonly db: Kysely<Database>;
  readonly events: EventStore;
  readonly rollouts: RolloutStore;
  readonly approvals: ApprovalStore;
  readonly decisions: DecisionLog;
  readonly outbox: OutboxStore;
  readonly gerrit: GerritClient;
  readonly policy: () => Policy;
  readonly logger: Logger;
  readonly publicUrl: string | undefined;
  /** Counts decisions by outcome. */
  readonly metrics?: Metrics;
  /** rollgate's own Gerrit account: its comments are never read as commands. */
  readonly serviceUser: string | undefined;
  /** Called when a rollout is queued, to wake the runner. */
  readonly onQueued: () => void;
  /** Called when a review message is queued, to wake the reporter. */
  readonly onReport: () => void;
  /** Called when Gerrit says it dropped events (`dropped-output`): the back-fill closes the gap. */
  readonly onGap: (reason: string) => void;
  /** Absent until the workflow engine provides them; commands then answer that nothing can be done. */
  readonly operations?: RolloutOperations;
  /** Appends decisions, approvals and commands to the audit trail; absent in tests that do not look at it. */
  readonly audit?: AuditTrail;
}

/** The workflow engine's operator actions, as the decide stage calls them after checking roles. */
export interface RolloutOperations {
  approveGate(rolloutId: number, actor: Actor, justification: string): Promise<OperationResult>;
  retry(rolloutId: number, actor: Actor, reason: string): Promise<OperationResult>;
  rollback(rolloutId: number, actor: Actor, reason: string): Promise<OperationResult>;
  cancel(rolloutId: number, actor: Actor, reason: string): Promise<OperationResult>;
}

/** What handling an event came to, stored on the event row. */
export interface Handled {
  readonly status: 'processed' | 'ignored';
  readonly reason: string | null;
}
