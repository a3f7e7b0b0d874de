import type { ApprovalRow, RolloutRow } from '../db/schema.js';
import type { GerritChange } from '../gerrit/gerrit-client.js';
import type { CommentApproval, DecisionResult } from '../policy/decide.js';
import { votersOf } from '../policy/evaluate-change.js';
import type { Policy, RolloutRule } from '../policy/policy-config.js';
import { mergeGrants, type RoleGrant } from '../policy/roles.js';
import { decideWithFreshApprovals, type ApprovalBinding } from '../policy/start-check.js';
import { resolveRoles } from '../policy/voter-roles.js';
import { asCommentApproval } from '../rollouts/approval-store.js';
import type { ActionDeps } from './action-deps.js';
import { approvalBinding } from './approval-binding.js';

/** A held rollout decided again, and what it was decided on (kept with the decision). */
export interface DecidedAgain {
  readonly result: DecisionResult;
  readonly rolesByAccount: Map<number, readonly RoleGrant[]>;
  readonly commentApprovals: readonly CommentApproval[];
  readonly at: Date;
  /** What this decision is given for (revision, workflow, policy), stored with it. */
  readonly binding: ApprovalBinding;
}

/**
 * The approvals given after the merge of a rollout (each with when it was given) and the roles
 * of everyone whose approval is counted, from their Gerrit groups as they are now (IdP groups as
 * they were when each approval was given). The decision again and the check at the start read these.
 */
export async function approvalsAndRolesNow(
  d: Pick<ActionDeps, 'approvals' | 'gerrit'>,
  policy: Policy,
  rollout: Pick<RolloutRow, 'id'>,
  change: GerritChange,
): Promise<{ readonly stored: readonly ApprovalRow[]; readonly commentApprovals: CommentApproval[]; readonly rolesByAccount: Map<number, readonly RoleGrant[]> }> {
  const stored = await d.approvals.forRollout(rollout.id);
  const commentApprovals = stored.map(asCommentApproval);
  const rolesByAccount = await resolveRoles(d.gerrit, policy.roles, [...votersOf(policy, change), ...commentApprovals.map((a) => a.account.accountId)]);
  for (const a of stored) rolesByAccount.set(a.account_id, mergeGrants(rolesByAccount.get(a.account_id) ?? [], a.idp_grants));
  return { stored, commentApprovals, rolesByAccount };
}

/**
 * Decides a held rollout again at this moment, on what counts now: the change's votes as Gerrit
 * REST shows them, the approvals given by comment or API (plus `added`, one being given now, with
 * its person's roles), everyone's Gerrit groups as they are now (IdP groups as they were when each
 * approval was given), the windows at this time, and no approval older than the rule's
 * `approval.max_age`. An approval, a vote after the merge and a window opening all come here.
 */
export async function decideHeldAgain(
  d: Pick<ActionDeps, 'approvals' | 'gerrit'>,
  input: {
    readonly policy: Policy;
    readonly rollout: RolloutRow;
    readonly rule: RolloutRule;
    readonly change: GerritChange;
    readonly added?: { readonly approval: CommentApproval; readonly grants: readonly RoleGrant[] };
    /** The moment decided for; now unless given. */
    readonly at?: Date;
  },
): Promise<DecidedAgain> {
  const { policy, rollout, rule, change, added } = input;
  const now = await approvalsAndRolesNow(d, policy, rollout, change);
  const at = input.at ?? new Date();
  const commentApprovals = [...now.commentApprovals, ...(added ? [{ ...added.approval, givenAt: at }] : [])];
  const rolesByAccount = now.rolesByAccount;
  if (added) rolesByAccount.set(added.approval.account.accountId, added.grants);
  const result = decideWithFreshApprovals({ policy, rule, change, rolesByAccount, commentApprovals, votesSince: rollout.created_at, at });
  return { result, rolesByAccount, commentApprovals, at, binding: approvalBinding(policy, rule, rollout.revision, at) };
}
