import type { Kysely } from 'kysely';
import type { Database, RolloutRow } from '../db/schema.js';
import type { RolloutStore } from '../rollouts/rollout-store.js';
import { isCommitSha } from '../gerrit/commit-sha.js';
import type { GerritChange } from '../gerrit/gerrit-client.js';
import type { Metrics } from '../metrics.js';
import type { ChangeMessages } from '../messages/change-messages.js';
import type { DecisionResult } from '../policy/decide.js';
import type { DecisionEntry, DecisionLog, ReplayOrigin } from '../rollouts/decision-log.js';
import type { Policy, RolloutRule } from '../policy/policy-config.js';
import type { RoleGrant } from '../policy/roles.js';
import type { ApprovalBinding } from '../policy/start-check.js';
import { approvalBinding } from './approval-binding.js';

export interface RecordDeps {
  readonly db: Kysely<Database>;
  readonly rollouts: RolloutStore;
  readonly decisions: DecisionLog;
  /** Where the hold or deny message goes, in the decision's transaction. */
  readonly messages: ChangeMessages;
  /** Counts decisions by outcome. */
  readonly metrics?: Metrics;
}

/** The key of a rollout: once per rule and merged revision, whatever repeats. */
export function rolloutKey(rule: string, change: Pick<GerritChange, 'project' | 'number' | 'currentRevision'>): string {
  return `${rule}:${change.project}~${change.number}:${change.currentRevision}`;
}

/**
 * Stores a merge's decision for one rule in one transaction: the rollout (queued, held or
 * denied), its audit entry, and for a hold or deny the message saying why. Returns the new row,
 * or undefined when this merged revision was decided before (nothing is written then).
 */
export async function recordMergeDecision(
  d: RecordDeps,
  input: {
    readonly policy: Policy;
    readonly rule: RolloutRule;
    readonly change: GerritChange;
    readonly newRev: string | undefined;
    readonly result: DecisionResult;
    readonly rolesByAccount: ReadonlyMap<number, readonly RoleGrant[]>;
    readonly at: Date;
    /** When the change was merged (the event's time); the environment's queue runs in this order. */
    readonly mergedAt?: Date | undefined;
    /** Set when `rollgate replay` decides: the decision is audited with trigger 'replay' and its recording. */
    readonly replay?: ReplayOrigin | undefined;
  },
): Promise<RolloutRow | undefined> {
  const { policy, rule, change, result } = input;
  // nothing but a full sha is ever recorded as what a rollout runs
  for (const [what, sha] of [['revision', change.currentRevision], ['newRev', input.newRev]] as const) {
    if (sha !== undefined && !isCommitSha(sha)) throw new Error(`change ${change.number}: ${what} ${JSON.stringify(sha.slice(0, 80))} is not a 40-character commit sha`);
  }
  const created = await d.db.transaction().execute(async (trx) => {
    const rollout = await d.rollouts.create(
      {
        rolloutKey: rolloutKey(rule.name, change),
        rule: rule.name,
        workflow: rule.workflow,
        environment: rule.environment,
        project: change.project,
        branch: change.branch,
        changeNumber: change.number,
        patchset: change.currentPatchSet,
        revision: change.currentRevision,
        newRev: input.newRev,
        subject: change.subject,
        decision: result.outcome,
        reasons: result.reasons,
        approvers: result.approvers,
        justification: result.justification,
        stepIds: policy.workflows[rule.workflow]?.steps.map((s) => s.id) ?? [],
        mergedAt: input.mergedAt,
        binding: approvalBinding(policy, rule, change.currentRevision, input.at),
      },
      trx,
    );
    if (!rollout) return undefined;
    await d.decisions.record(
      { rolloutId: rollout.id, rule, change, result, rolesByAccount: input.rolesByAccount, commentApprovals: [], at: input.at, trigger: input.replay ? 'replay' : 'merge', replay: input.replay, actor: undefined, policyVersion: policy.version },
      trx,
    );
    if (result.outcome !== 'allow') await d.messages.whyNot(rollout, result.outcome, undefined, trx);
    return rollout;
  });
  // counted once committed, and only when new: a repeated merge decides nothing
  if (created) d.metrics?.decisions.inc({ outcome: result.outcome, trigger: input.replay ? 'replay' : 'merge' });
  return created;
}

/**
 * Stores a held rollout's new decision (after an approval): the rollout row, the audit entry in
 * `decisions`, and unless it now runs the message saying why it still holds (or is denied), told
 * apart from earlier ones by `keySuffix` (the action's key). Returns the updated row, or undefined when the rollout was
 * no longer held (someone else's action came first; nothing is written then).
 */
export async function recordRedecision(
  d: Pick<RecordDeps, 'rollouts' | 'decisions' | 'messages'>,
  input: Omit<DecisionEntry, 'rolloutId'> & { readonly rollout: RolloutRow; readonly keySuffix: string; readonly binding?: ApprovalBinding | undefined },
  trx: Kysely<Database>,
): Promise<RolloutRow | undefined> {
  const { rollout, keySuffix, binding, ...entry } = input;
  const { result } = entry;
  const updated = await d.rollouts.redecide(rollout.id, { decision: result.outcome, reasons: result.reasons, approvers: result.approvers, justification: result.justification, binding }, trx);
  if (!updated) return undefined;
  await d.decisions.record({ ...entry, rolloutId: rollout.id }, trx);
  if (result.outcome !== 'allow') await d.messages.whyNot(updated, result.outcome, keySuffix, trx);
  return updated;
}
