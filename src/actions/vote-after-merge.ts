import type { ActionDeps } from './action-deps.js';
import { decideHeldAgain } from './decide-held-again.js';
import { recordRedecision } from './record-decision.js';

/**
 * Someone voted on a merged change: each of its held rollouts is decided again on the votes as
 * Gerrit REST shows them now (the event only says that something was voted), exactly as a
 * `/rollout approve` decides it again, so a vote counts only from someone whose approval counts
 * under the rule (roles, no self-approval, quorum, windows). A rollout the votes now allow is
 * queued, with its decision recorded and audited (trigger `vote`) and the started message to
 * follow. One still held is left as it is, with nothing posted: votes come often, and its hold
 * message already says what is missing. Returns one line per held rollout, for the event's row.
 */
export async function decideHeldOnVote(d: ActionDeps, vote: { readonly project: string; readonly changeNumber: number; readonly voter: string | undefined; readonly key: string }): Promise<string[]> {
  const held = await d.rollouts.heldForChange(vote.project, vote.changeNumber);
  if (held.length === 0) return [];
  const change = await d.gerrit.getChange(vote.project, vote.changeNumber);
  const policy = d.policy();
  const outcomes: string[] = [];
  for (const rollout of held) {
    const rule = policy.rollouts.find((r) => r.name === rollout.rule);
    if (!rule) {
      outcomes.push(`${rollout.rule}: rule no longer in the policy, left on hold`);
      continue;
    }
    const again = await decideHeldAgain(d, { policy, rollout, rule, change });
    if (again.result.outcome !== 'allow') {
      outcomes.push(`${rule.name}: still held after the vote`);
      continue;
    }
    const updated = await d.db
      .transaction()
      .execute((trx) => recordRedecision(d, { rollout, rule, change, ...again, trigger: 'vote', actor: vote.voter, policyVersion: policy.version, keySuffix: vote.key }, trx));
    if (!updated) {
      outcomes.push(`${rule.name}: no longer held`);
      continue;
    }
    d.metrics?.decisions.inc({ outcome: 'allow', trigger: 'vote' });
    d.onQueued();
    outcomes.push(`${rule.name}: allowed by the votes, queued (rollout #${rollout.id})`);
  }
  return outcomes;
}
