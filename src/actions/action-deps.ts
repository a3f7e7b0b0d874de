import type { AuditTrail } from '../audit/audit-trail.js';
import type { GerritClient } from '../gerrit/gerrit-client.js';
import type { Policy } from '../policy/policy-config.js';
import type { Actor, OperationResult } from '../policy/who-may-act.js';
import type { ApprovalStore } from '../rollouts/approval-store.js';
import type { RolloutReads } from '../rollouts/rollout-reads.js';
import type { RecordDeps } from './record-decision.js';

// What the actions people take on a rollout need: the record they change, Gerrit to read the
// change and groups from, and the engine's operations. Narrower than the decide stage's deps,
// which add the event store and the stream's callbacks; every surface (comment, API, web page,
// replay) passes one of these.

export interface ActionDeps extends RecordDeps {
  readonly approvals: ApprovalStore;
  /** The rollouts as they are now: their steps, and a change's rollouts for comment commands. */
  readonly reads: RolloutReads;
  readonly gerrit: GerritClient;
  readonly policy: () => Policy;
  /** Called when a rollout is queued, to wake the runner. */
  readonly onQueued: () => void;
  /** Called when a review message is queued, to wake the reporter. */
  readonly onReport: () => void;
  /** Absent until the workflow engine provides them; actions then answer that nothing can be done. */
  readonly operations?: RolloutOperations;
  /** Appends approvals and actions to the audit trail; absent in tests that do not look at it. */
  readonly audit?: AuditTrail;
}

/** The workflow engine's operator actions, as actions call them after checking roles. */
export interface RolloutOperations {
  approveGate(rolloutId: number, actor: Actor, justification: string): Promise<OperationResult>;
  retry(rolloutId: number, actor: Actor, reason: string): Promise<OperationResult>;
  rollback(rolloutId: number, actor: Actor, reason: string): Promise<OperationResult>;
  cancel(rolloutId: number, actor: Actor, reason: string): Promise<OperationResult>;
}
