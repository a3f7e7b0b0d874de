import { NotMergedYetError } from '../errors.js';
import type { ChangeMergedEvent } from '../gerrit/gerrit-event.js';
import { evaluateChange, votersOf, whyIgnored } from '../policy/evaluate-change.js';
import type { DecideDeps, Handled } from './decide-deps.js';
import { mergedRevision } from './merged-revision.js';
import { recordMergeDecision } from '../actions/record-decision.js';
import { resolveRoles } from '../policy/voter-roles.js';

/**
 * A merge: one decided rollout per matching rule, from Gerrit's REST view of the change. The
 * event (stream, back-fill or webhook) is only a hint naming the change: what the rollout runs
 * (merged revision and patch set, the branch commit, votes, owner, files) and its place in the
 * queue (the merge time) come from REST. A rollout is keyed by rule, change and that merged
 * revision, so a repeated event, or the same merge from several sources, decides nothing new.
 */
export async function handleMerged(d: DecideDeps, event: ChangeMergedEvent): Promise<Handled> {
  const change = await d.gerrit.getChange(event.change.project, event.change.number);
  if (change.status !== 'MERGED') {
    // Gerrit's REST view can lag the event; the processor retries with backoff
    throw new NotMergedYetError(`change ${change.number} is ${change.status} in REST, not MERGED yet`);
  }
  const policy = d.policy();
  const rolesByAccount = await resolveRoles(d.gerrit, policy.roles, votersOf(policy, change));
  // judged now: the rollout would start now, so the window that matters is the current one
  const at = new Date();
  const decisions = evaluateChange({ policy, change, rolesByAccount, at });
  if (decisions.length === 0) {
    const reason = whyIgnored(policy, change);
    await d.decisions.recordIgnored(change, reason, at, policy.version);
    d.metrics?.decisions.inc({ outcome: 'ignore', trigger: 'merge' });
    d.onIgnoredMerge?.(change);
    return { status: 'ignored', reason };
  }

  const { newRev, refused } = await mergedRevision(d.gerrit, change, event.newRev);
  if (refused) d.logger.warn({ change: change.number, refused }, 'change-merged event names a newRev Gerrit does not show as the merge');
  // Gerrit's time of the merge; the event's own time only if REST has none
  const mergedAt = change.submitted ?? (event.eventCreatedOn !== undefined ? new Date(event.eventCreatedOn * 1000) : undefined);
  const outcomes: string[] = [];
  let queued = false;
  let reported = false;
  for (const { rule, result } of decisions) {
    const created = await recordMergeDecision(d, { policy, rule, change, newRev, result, rolesByAccount, at, mergedAt });
    if (!created) {
      outcomes.push(`${rule.name}: already decided`);
      continue;
    }
    outcomes.push(`${rule.name}: ${result.outcome} (rollout #${created.id})`);
    if (result.outcome === 'allow') queued = true;
    else reported = true;
  }
  if (queued) d.onQueued();
  if (reported) d.onReport();
  if (refused) outcomes.push(refused);
  return { status: 'processed', reason: outcomes.join('; ') };
}
