import type { GerritChange } from '../gerrit/gerrit-client.js';
import { evaluateChange, votersOf } from '../policy/evaluate-change.js';
import { resolveRoles } from '../policy/voter-roles.js';
import type { DecideDeps } from './decide-deps.js';

/**
 * Readiness before merge: whether an open change would roll out if it merged now, shown in
 * review as rollgate's vote on `label` (+1 when every matching rule would allow, else 0) with a
 * message saying what is missing. Decided like a merge (the one `evaluateChange`, votes as Gerrit
 * REST shows them, roles from groups, windows at this time), and posted only when the vote
 * changes, so reviews that change nothing say nothing. A change no rule matches gets no vote.
 * `change` is as Gerrit REST shows it now. Returns what happened, for the event's row; undefined
 * when the change is not open.
 */
export async function updateReadiness(d: DecideDeps, label: string, change: GerritChange): Promise<string | undefined> {
  if (change.status !== 'NEW') return undefined;
  const policy = d.policy();
  const rolesByAccount = await resolveRoles(d.gerrit, policy.roles, votersOf(policy, change));
  const decisions = evaluateChange({ policy, change, rolesByAccount, at: new Date() });
  if (decisions.length === 0) return 'readiness: no rollout rule matches this change';
  const value = decisions.every((x) => x.result.outcome === 'allow') ? 1 : 0;
  const verdicts = decisions.map(({ rule, result }) => ({ rule: rule.name, environment: rule.environment, outcome: result.outcome, reasons: result.reasons }));
  const queued = await d.messages.readiness(change, label, value, verdicts);
  if (!queued) return `readiness: ${label} ${value > 0 ? '+1' : '0'} unchanged`;
  d.onReport();
  return `readiness: ${label} ${value > 0 ? '+1' : '0'} queued`;
}
