import type { GerritChange } from '../gerrit/gerrit-client.js';
import { decide, type CommentApproval, type DecisionResult } from './decide.js';
import { footer, JUSTIFICATION_FOOTER, parseFooters, RULE_FOOTER } from './footers.js';
import { matchingRules, whyNoRuleMatches } from './match.js';
import type { Policy, RolloutRule } from './policy-config.js';
import type { RoleGrant } from './roles.js';

export interface RuleDecision {
  readonly rule: RolloutRule;
  readonly result: DecisionResult;
}

/**
 * Every matching rule's decision for a merged change, from plain facts: the change (as REST
 * shows it, or as rebuilt from recorded events), the roles of the people involved, approvals
 * given by comment, and the moment. `serve`, `explain`, `replay` and `policy test` all decide
 * through here, so they cannot disagree. An empty list means no rule matches (`ignore`).
 */
export function evaluateChange(input: {
  readonly policy: Policy;
  readonly change: GerritChange;
  readonly rolesByAccount: ReadonlyMap<number, readonly RoleGrant[]>;
  readonly commentApprovals?: readonly CommentApproval[];
  readonly at: Date;
  /** Only this rule (a held rollout being decided again). */
  readonly onlyRule?: string;
}): RuleDecision[] {
  const { policy, change } = input;
  const footers = parseFooters(change.commitMessage);
  const rules = input.onlyRule
    ? policy.rollouts.filter((r) => r.name === input.onlyRule)
    : matchingRules(policy.rollouts, { project: change.project, branch: change.branch, files: change.files, ruleFooter: footer(footers, RULE_FOOTER) });
  return rules.map((rule) => ({
    rule,
    result: decide({
      rule,
      change,
      rolesByAccount: input.rolesByAccount,
      justification: footer(footers, JUSTIFICATION_FOOTER),
      commentApprovals: input.commentApprovals ?? [],
      at: input.at,
      roleSources: { gerrit: policy.roles, idp: policy.idpRoles },
    }),
  }));
}

/** Account ids whose roles a decision on this change needs: voters on the rules' labels. */
export function votersOf(policy: Policy, change: GerritChange): number[] {
  const labels = new Set(policy.rollouts.flatMap((r) => r.approval.map((g) => g.label)));
  return [...labels].flatMap((label) => (change.votes[label] ?? []).map((v) => v.account.accountId));
}

/** Why `evaluateChange` found no rule for the change (the reason of an `ignore`). */
export function whyIgnored(policy: Policy, change: GerritChange): string {
  return whyNoRuleMatches(policy.rollouts, { project: change.project, branch: change.branch, files: change.files, ruleFooter: footer(parseFooters(change.commitMessage), RULE_FOOTER) });
}
