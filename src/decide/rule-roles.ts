import type { RolloutRule } from './policy-config.js';

/**
 * The roles that may act on a rollout of `rule` besides voting: deny it, retry, roll back or
 * cancel it, and approve it while it is held. They are the rule's approval roles and its
 * break-glass roles; comment commands, the HTTP API and the web page's buttons all ask this.
 */
export function ruleActionRoles(rule: RolloutRule | undefined): string[] {
  if (!rule) return [];
  return [...new Set([...rule.approval.flatMap((g) => g.roles), ...(rule.break_glass?.roles ?? [])])];
}
