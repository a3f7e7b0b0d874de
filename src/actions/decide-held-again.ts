import type { RolloutRow } from '../db/schema.js';
import type { GerritChange } from '../gerrit/gerrit-client.js';
import type { CommentApproval, DecisionResult } from '../policy/decide.js';
import { evaluateChange, votersOf } from '../policy/evaluate-change.js';
import type { Policy, RolloutRule } from '../policy/policy-config.js';
import { mergeGrants, type RoleGrant } from '../policy/roles.js';
import { resolveRoles } from '../policy/voter-roles.js';
import { asCommentApproval } from '../rollouts/approval-store.js';
import type { ActionDeps } from './action-deps.js';

/** A held rollout decided again, and what it was decided on (kept with the decision). */
export interface DecidedAgain {
  readonly result: DecisionResult;
  readonly rolesByAccount: Map<number, readonly RoleGrant[]>;
  readonly commentApprovals: readonly CommentApproval[];
  readonly at: Date;
}

/**
 * Decides a held rollout again at this moment, on what counts now: the change's votes as Gerrit
 * REST shows them, the approvals given by comment or API (plus `added`, one being given now, with
 * its person's roles), everyone's Gerrit groups as they are now (IdP groups as they were when each
 * approval was given), the windows at this time. An approval and a vote after the merge both come here.
 */
export async function decideHeldAgain(
  d: Pick<ActionDeps, 'approvals' | 'gerrit'>,
  input: { readonly policy: Policy; readonly rollout: RolloutRow; readonly rule: RolloutRule; readonly change: GerritChange; readonly added?: { readonly approval: CommentApproval; readonly grants: readonly RoleGrant[] } },
): Promise<DecidedAgain> {
  const { policy, rollout, rule, change, added } = input;
  const stored = await d.approvals.forRollout(rollout.id);
  const commentApprovals = [...stored.map(asCommentApproval), ...(added ? [added.approval] : [])];
  const rolesByAccount = await resolveRoles(d.gerrit, policy.roles, [...votersOf(policy, change), ...commentApprovals.map((a) => a.account.accountId)]);
  for (const a of stored) rolesByAccount.set(a.account_id, mergeGrants(rolesByAccount.get(a.account_id) ?? [], a.idp_grants));
  if (added) rolesByAccount.set(added.approval.account.accountId, added.grants);
  const at = new Date();
  const [decision] = evaluateChange({ policy, change, rolesByAccount, commentApprovals, at, onlyRule: rule.name });
  return { result: decision!.result, rolesByAccount, commentApprovals, at };
}
