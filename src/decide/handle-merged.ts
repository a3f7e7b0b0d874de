import { NotMergedYetError } from '../errors.js';
import type { ChangeMergedEvent } from '../gerrit/gerrit-event.js';
import { evaluateChange, votersOf, whyIgnored } from './evaluate-change.js';
import type { DecideDeps, Handled } from './event-processor.js';
import { recordMergeDecision } from './record-decision.js';
import { resolveRoles } from './voter-roles.js';

/**
 * A merge: one decided rollout per matching rule, from Gerrit's REST view of the change (the
 * event is a hint; REST is the truth for status, votes and the commit message). A rollout is
 * keyed by rule, change and merged revision, so a repeated or back-filled event decides nothing new.
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
    return { status: 'ignored', reason };
  }

  // Gerrit's time of the merge (a back-filled event carries the submitted time)
  const mergedAt = event.eventCreatedOn !== undefined ? new Date(event.eventCreatedOn * 1000) : undefined;
  const outcomes: string[] = [];
  let queued = false;
  let reported = false;
  for (const { rule, result } of decisions) {
    const created = await recordMergeDecision(d, { policy, rule, change, newRev: event.newRev, result, rolesByAccount, at, mergedAt });
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
  return { status: 'processed', reason: outcomes.join('; ') };
}
