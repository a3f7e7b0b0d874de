import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Row types of rollgate's tables; `migrations/` creates them. */
export interface Database {
  events: EventsTable;
  rollouts: RolloutsTable;
  rollout_steps: RolloutStepsTable;
  step_attempts: StepAttemptsTable;
  step_output: StepOutputTable;
  outbox: OutboxTable;
  approvals: ApprovalsTable;
  checkpoints: CheckpointsTable;
  decisions: DecisionsTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
  operator_sessions: OperatorSessionsTable;
  consumed_comment_messages: ConsumedCommentMessagesTable;
  leader_leases: LeaderLeasesTable;
  step_token_keys: StepTokenKeysTable;
}

type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A timestamp the database fills in by default when an insert leaves it out. */
type DefaultedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export type EventStatus = 'pending' | 'processed' | 'ignored' | 'rejected' | 'failed';

/** Every line that reached rollgate, stored before it is interpreted. */
export interface EventsTable {
  id: Generated<number>;
  /** Derived identity: the same event from the stream or a back-fill is stored once; a webhook's or replay's are keyed apart (hints never shadow Gerrit's own). */
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
/** Every status a rollout can have, for validating filters. */
export const ROLLOUT_STATUSES = ['held', 'expired', 'denied', 'queued', 'running', 'waiting', 'succeeded', 'failed', 'rolled_back', 'superseded', 'cancelled'] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];
/**
 * The statuses in which a rollout has come to an end: nothing changes it unless a person acts
 * (a retry or rollback of a failed one). `held` waits for an approval; `queued` waits for a
 * worker and for its environment; `running` (a worker holds its lease) and `waiting` (parked at
 * an approval gate) hold the environment.
 */
export const ENDED_STATUSES: ReadonlySet<RolloutStatus> = new Set(['expired', 'denied', 'succeeded', 'failed', 'rolled_back', 'superseded', 'cancelled']);
export type RolloutPhase = 'forward' | 'rollback';

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
  /** The worker holding the lease while `running`; with `lease_expires_at`, renewed by its heartbeat. */
  claimed_by: string | null;
  lease_expires_at: Timestamp | null;
  phase: ColumnType<RolloutPhase, RolloutPhase | undefined, RolloutPhase>;
  /** 1, then one more per operator retry or rollback: each run reports on its own. */
  run: ColumnType<number, number | undefined, number>;
  /** An operator's request to the worker running it (`cancel`). */
  request: string | null;
  /** When a parked rollout must be looked at again (an approval gate's or the workflow's deadline). */
  wake_at: Timestamp | null;
  /** The workflow-level timeout, fixed when the rollout first starts. */
  deadline_at: Timestamp | null;
  /** Why it ended the way it did, in words (cancelled by whom, superseded by which, timed out). */
  outcome: string | null;
  superseded_by: number | null;
  /** When the change was merged: an environment's queue runs in this order, whatever order rollgate decided in. */
  merged_at: DefaultedTimestamp;
  /** What the decision was given for (JSON `ApprovalBinding`), checked again when the rollout starts; null before 0015. */
  approval_binding: ColumnType<unknown, string | null | undefined, string | null>;
}

export type StepStatus = 'pending' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';

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
  /** run, http, approval, wait; undo and rollback steps are run or http. */
  kind: string | null;
  /** The worker running this step and until when; an expired lease is reclaimed and the step runs again. */
  lease_owner: string | null;
  lease_expires_at: Timestamp | null;
  /** The same on every run of this step of this rollout, so a re-run after a crash can be recognised. */
  idempotency_key: string | null;
  http_status: number | null;
  /** When an approval gate stops waiting. */
  deadline_at: Timestamp | null;
  /** What happened in words: who passed a gate and why, why a step was skipped. */
  note: string | null;
  /** The process group of a running `run` step and the host it runs on: a crashed worker's orphan is killed before the step runs again. */
  process_group: number | null;
  process_host: string | null;
}

/** How one attempt of a step ended; `interrupted` when its worker stopped or died and another ran the step again. */
export type AttemptStatus = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

/** Every start of a step: one row per attempt, written before its process starts. */
export interface StepAttemptsTable {
  rollout_id: number;
  step_id: string;
  /** 1, 2, 3… for every start of this step of this rollout, never reused. */
  number: number;
  /** The retry count within the step's current run (`ROLLGATE_ATTEMPT`); an operator's retry starts it again at 1. */
  attempt: number;
  kind: string;
  worker: string;
  status: ColumnType<AttemptStatus, AttemptStatus | undefined, AttemptStatus>;
  started_at: DefaultedTimestamp;
  finished_at: Timestamp | null;
  exit_code: number | null;
  http_status: number | null;
  error: string | null;
}

/** A running attempt's output as it came, redacted, in order (`id`); bounded per attempt by dropping the oldest. */
export interface StepOutputTable {
  id: Generated<number>;
  rollout_id: number;
  step_id: string;
  number: number;
  /** Where this chunk starts in its attempt's output, in bytes after redaction. */
  offset: number;
  text: string;
  created_at: DefaultedTimestamp;
}

export type StepAttemptRow = Selectable<StepAttemptsTable>;
export type StepOutputRow = Selectable<StepOutputTable>;

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
  /** Votes posted with the message (label → value); null for a message alone. */
  labels: ColumnType<unknown, string | null | undefined, string | null>;
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
  /** Roles the approver held through IdP group claims at the time (JSON `RoleGrant[]`); `[]` for comments. */
  idp_grants: ColumnType<Array<{ role: string; via: string }>, string | undefined, string>;
}

/** Leadership with a bounded lifetime (see src/db/leader-lease.ts): one row per kind, e.g. the Gerrit stream. */
export interface LeaderLeasesTable {
  name: string;
  holder: string;
  /** One more on every takeover: a renewal must name the generation it holds. */
  generation: number;
  /** By the database's clock; once it passes, any replica may take the lease over. */
  expires_at: Timestamp;
  /** The holder's database session: when it no longer exists, the lease is taken over at once. */
  holder_pid: number | null;
  holder_backend_start: Date | null;
  acquired_at: DefaultedTimestamp;
  renewed_at: DefaultedTimestamp;
}

/** Named progress markers, such as the time of the last merge seen, for back-fill after a gap. */
export interface CheckpointsTable {
  name: string;
  value: Json<unknown>;
  updated_at: DefaultedTimestamp;
}

/** Every decision, with what it was made from (each also has a row in the audit trail). */
export interface DecisionsTable {
  id: Generated<number>;
  rollout_id: number | null;
  /** Null for a merge no rule matches (`ignore`). */
  rule: string | null;
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

/**
 * The hash-chained audit trail: every decision, approval, command, API action, step start and
 * end, and report, one row each. Written only by src/audit/audit-store.ts.
 */
export interface AuditLogTable {
  /** 1, 2, 3, … with no gaps, taken from `audit_head` by the append that writes the row. */
  id: number;
  /** Given by rollgate (not a default): it is part of the hash. */
  at: Timestamp;
  kind: string;
  actor: string;
  rollout_id: number | null;
  project: string | null;
  change_number: number | null;
  summary: string;
  data: Json<unknown>;
  /** The previous row's `hash`; 64 zeros for the first row. */
  prev_hash: string;
  /** sha256 (hex) over `prev_hash` and the row's canonical content. */
  hash: string;
}

export type AuditLogRow = Selectable<AuditLogTable>;

/** The one row every audit append updates: the newest entry's id and hash, and the hash before it. */
export interface AuditHeadTable {
  one: Generated<boolean>;
  last_id: number;
  last_hash: string;
  prev_hash: string;
}

/** A logged-in operator's session; the cookie holds the id, this table only its sha256. */
export interface OperatorSessionsTable {
  id_hash: string;
  /** The account claim from the IdP (a username or email). */
  login: string;
  /** The Gerrit account the login maps to. */
  account_id: number;
  /** That account's Gerrit username, for messages. */
  username: string | null;
  /** The IdP group claims at login (roles through `idp_groups`). */
  idp_groups: Json<string[]>;
  created_at: DefaultedTimestamp;
  expires_at: Timestamp;
}

export type OperatorSessionRow = Selectable<OperatorSessionsTable>;
export type DecisionRow = Selectable<DecisionsTable>;
export type EventRow = Selectable<EventsTable>;
export type ApprovalRow = Selectable<ApprovalsTable>;
export type NewEvent = Insertable<EventsTable>;
export type RolloutRow = Selectable<RolloutsTable>;
export type StepRow = Selectable<RolloutStepsTable>;
export type OutboxRow = Selectable<OutboxTable>;

/** A Gerrit message whose `/rollout` commands were acted on, by the event that did; each is used once. */
export interface ConsumedCommentMessagesTable {
  project: string;
  change_number: number;
  /** Gerrit's id of the message (unique on the change). */
  message_id: string;
  event_id: number;
  account_id: number;
  consumed_at: DefaultedTimestamp;
}

/** A key that signs step identity tokens (migration 0018); the private half only encrypted. */
export interface StepTokenKeysTable {
  kid: string;
  algorithm: string;
  /** The public JWK as JSON, as published. */
  public_jwk: string;
  /** base64 of IV (12 bytes) + GCM tag (16 bytes) + the encrypted PKCS#8 PEM; the kid is the additional data. */
  private_key_encrypted: string;
  created_at: Timestamp;
  /** The last moment it signs; published until every token it signed has expired. */
  not_after: Timestamp;
}
