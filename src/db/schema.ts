import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Row types of rollgate's tables; `migrations/` creates them. */
export interface Database {
  events: EventsTable;
  rollouts: RolloutsTable;
  rollout_steps: RolloutStepsTable;
  outbox: OutboxTable;
  approvals: ApprovalsTable;
  checkpoints: CheckpointsTable;
  decisions: DecisionsTable;
}

type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A timestamp the database fills in by default when an insert leaves it out. */
type DefaultedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export type EventStatus = 'pending' | 'processed' | 'ignored' | 'rejected' | 'failed';

/** Every line that reached rollgate, stored before it is interpreted. */
export interface EventsTable {
  id: Generated<number>;
  /** Derived identity: the same event from the stream, a back-fill or a webhook is stored once. */
  dedup_key: string;
  source: string;
  type: string | null;
  received_at: DefaultedTimestamp;
  event_created_on: number | null;
  raw: string;
  status: EventStatus;
  reason: string | null;
  attempts: Generated<number>;
  not_before: DefaultedTimestamp;
  processed_at: Timestamp | null;
}

export type Decision = 'allow' | 'hold' | 'deny';
export type RolloutStatus = 'held' | 'expired' | 'denied' | 'queued' | 'running' | 'succeeded' | 'failed';

export interface RolloutsTable {
  id: Generated<number>;
  /** rule + change + merged revision: a rollout exists once per merged revision, whatever repeats. */
  rollout_key: string;
  rule: string;
  workflow: string;
  environment: string;
  project: string;
  branch: string;
  change_number: number;
  patchset: number;
  revision: string;
  new_rev: string | null;
  subject: string;
  decision: Decision;
  status: RolloutStatus;
  reasons: Json<unknown>;
  approvers: Json<unknown>;
  justification: string | null;
  created_at: DefaultedTimestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  claimed_by: string | null;
}

export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface RolloutStepsTable {
  rollout_id: number;
  step_id: string;
  position: number;
  status: StepStatus;
  attempts: number;
  exit_code: number | null;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  duration_ms: number | null;
  output_tail: string | null;
  error: string | null;
}

export type OutboxStatus = 'pending' | 'sent' | 'failed';

/** Review messages waiting to be posted on Gerrit; retried until Gerrit takes them. */
export interface OutboxTable {
  id: Generated<number>;
  /** One message per rollout and phase, so repeated processing never posts twice. */
  message_key: string;
  rollout_id: number | null;
  project: string;
  change_number: number;
  revision: string;
  tag: string;
  message: string;
  status: OutboxStatus;
  attempts: Generated<number>;
  next_attempt_at: DefaultedTimestamp;
  last_error: string | null;
  created_at: DefaultedTimestamp;
  sent_at: Timestamp | null;
}

/** An approval given after the merge, by comment (or later the API). */
export interface ApprovalsTable {
  id: Generated<number>;
  rollout_id: number;
  account_id: number;
  username: string | null;
  justification: string;
  source: 'comment' | 'api';
  event_id: number | null;
  created_at: DefaultedTimestamp;
}

/** Named progress markers, such as the time of the last merge seen, for back-fill after a gap. */
export interface CheckpointsTable {
  name: string;
  value: Json<unknown>;
  updated_at: DefaultedTimestamp;
}

/** The audit trail: one row per decision, with what it was made from. */
export interface DecisionsTable {
  id: Generated<number>;
  rollout_id: number | null;
  rule: string;
  project: string;
  change_number: number;
  revision: string;
  /** What caused the decision: `merge`, `comment`, `command`, `expiry`. */
  trigger: string;
  /** Who caused it, when a person did (username). */
  actor: string | null;
  outcome: string;
  reasons: Json<unknown>;
  /** Votes, accounts, roles and groups, approvals, justification, time, rule: what was decided from. */
  inputs: Json<unknown>;
  /** sha256 of the policy files in force. */
  policy_version: string;
  created_at: DefaultedTimestamp;
}

export type DecisionRow = Selectable<DecisionsTable>;
export type EventRow = Selectable<EventsTable>;
export type ApprovalRow = Selectable<ApprovalsTable>;
export type NewEvent = Insertable<EventsTable>;
export type RolloutRow = Selectable<RolloutsTable>;
export type StepRow = Selectable<RolloutStepsTable>;
export type OutboxRow = Selectable<OutboxTable>;
