import type { RolloutRow } from '../db/schema.js';
import type { Approver, Reason } from '../policy/decide.js';
import { checkAtStart, storedBinding } from '../policy/start-check.js';
import type { ActionDeps } from './action-deps.js';
import { approvalBinding } from './approval-binding.js';
import { approvalsAndRolesNow } from './decide-held-again.js';

/** What the check at the start says to the worker: start (with the row as it is now), or not. */
export type StartVerdict = { readonly start: true; readonly rollout: RolloutRow } | { readonly start: false; readonly outcome: 'hold' | 'deny' | 'lost' };

export type StartCheckDeps = Pick<ActionDeps, 'db' | 'rollouts' | 'decisions' | 'messages' | 'approvals' | 'gerrit' | 'policy' | 'metrics'> & {
  /** The moment of the start (tests set the clock); now by default. */
  readonly now?: () => Date;
};

/**
 * Checks a rollout `workerId` has just claimed to start, against the policy in use, Gerrit's
 * groups and the clock now (`checkAtStart`). When the decision no longer holds, the rollout goes
 * back to held or denied in one transaction with its decision entry (and audit row) and the
 * message on the change saying what changed; no step runs. When it starts under another policy
 * or workflow than it was decided under and is still allowed, the new decision is recorded and
 * it starts. A Gerrit REST failure throws: the claim is given up and the start tried again.
 */
export async function checkRolloutAtStart(d: StartCheckDeps, rollout: RolloutRow, workerId: string): Promise<StartVerdict> {
  const policy = d.policy();
  const at = d.now?.() ?? new Date();
  const rule = policy.rollouts.find((r) => r.name === rollout.rule);
  const change = await d.gerrit.getChange(rollout.project, rollout.change_number);
  const { commentApprovals, rolesByAccount } = await approvalsAndRolesNow(d, policy, rollout, change);
  const binding = rule ? approvalBinding(policy, rule, rollout.revision, at) : undefined;
  const check = checkAtStart({
    policy,
    ruleName: rollout.rule,
    change,
    rolesByAccount,
    commentApprovals,
    votesSince: rollout.created_at,
    at,
    decided: { approvers: rollout.approvers as Approver[], binding: storedBinding(rollout.approval_binding), workflow: rollout.workflow },
    binding,
  });
  const { result } = check;
  const stored = { reasons: result.reasons, approvers: result.approvers, justification: result.justification, binding };

  if (result.outcome === 'allow') {
    if (!check.rebound && storedBinding(rollout.approval_binding) !== undefined) return { start: true, rollout };
    const updated = await d.db.transaction().execute(async (trx) => {
      // the rule's workflow now (another one when the rule was pointed elsewhere): its steps are planned, others skipped
      const workflow = rule!.workflow === rollout.workflow ? undefined : { name: rule!.workflow, stepIds: policy.workflows[rule!.workflow]?.steps.map((s) => s.id) ?? [] };
      const row = await d.rollouts.rebind(rollout.id, workerId, { decision: 'allow', ...stored }, workflow, trx);
      // a row without a binding (decided before they were kept) only gains one; another policy or workflow is a new decision
      if (row && check.rebound) {
        await d.decisions.record({ rolloutId: rollout.id, rule: rule!, change, result, rolesByAccount, commentApprovals, at, trigger: 'start', actor: undefined, policyVersion: policy.version }, trx);
      }
      return row;
    });
    if (!updated) return { start: false, outcome: 'lost' };
    if (check.rebound) d.metrics?.decisions.inc({ outcome: 'allow', trigger: 'start' });
    return { start: true, rollout: updated };
  }

  const outcome = result.outcome;
  const refused = await d.db.transaction().execute(async (trx) => {
    const row = await d.rollouts.refuseStart(rollout.id, workerId, { decision: outcome, ...stored, binding: binding ?? rollout.approval_binding ?? undefined }, trx);
    if (!row) return undefined;
    if (rule) {
      await d.decisions.record({ rolloutId: rollout.id, rule, change, result, rolesByAccount, commentApprovals, at, trigger: 'start', actor: undefined, policyVersion: policy.version }, trx);
    } else {
      await d.decisions.recordRuleGone(row, result.reasons as Reason[], at, policy.version, trx);
    }
    await d.messages.startRefused(row, outcome, check.changed, at, trx);
    return row;
  });
  if (!refused) return { start: false, outcome: 'lost' };
  d.metrics?.decisions.inc({ outcome, trigger: 'start' });
  return { start: false, outcome };
}
