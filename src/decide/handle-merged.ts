import { GerritError } from '../errors.js';
import type { ChangeMergedEvent } from '../gerrit/gerrit-event.js';
import { denyMessage, holdMessage, REVIEW_TAG } from '../report/format-message.js';
import { rolloutSummary } from '../report/rollout-summary.js';
import { evaluateChange, votersOf } from './evaluate-change.js';
import type { DecideDeps, Handled } from './event-processor.js';
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
    throw new GerritError(`change ${change.number} is ${change.status} in REST, not MERGED yet`, 200, true);
  }
  const policy = d.policy();
  const rolesByAccount = await resolveRoles(d.gerrit, policy.roles, votersOf(policy, change));
  // judged now: the rollout would start now, so the window that matters is the current one
  const at = new Date();
  const decisions = evaluateChange({ policy, change, rolesByAccount, at });
  if (decisions.length === 0) return { status: 'ignored', reason: `no rollout rule matches ${change.project} ${change.branch}` };

  const outcomes: string[] = [];
  let queued = false;
  let reported = false;
  for (const { rule, result } of decisions) {
    const created = await d.db.transaction().execute(async (trx) => {
      const rollout = await d.rollouts.create(
        {
          rolloutKey: `${rule.name}:${change.project}~${change.number}:${change.currentRevision}`,
          rule: rule.name,
          workflow: rule.workflow,
          environment: rule.environment,
          project: change.project,
          branch: change.branch,
          changeNumber: change.number,
          patchset: change.currentPatchSet,
          revision: change.currentRevision,
          newRev: event.newRev,
          subject: change.subject,
          decision: result.outcome,
          reasons: result.reasons,
          approvers: result.approvers,
          justification: result.justification,
          stepIds: policy.workflows[rule.workflow]?.steps.map((s) => s.id) ?? [],
        },
        trx,
      );
      if (rollout) {
        await d.decisions.record({ rolloutId: rollout.id, rule, change, result, rolesByAccount, commentApprovals: [], at, trigger: 'merge', actor: undefined, policyVersion: policy.version }, trx);
      }
      if (rollout && result.outcome !== 'allow') {
        const summary = rolloutSummary(rollout, d.publicUrl);
        await d.outbox.enqueue(
          {
            messageKey: `rollout:${rollout.id}:${result.outcome}`,
            rolloutId: rollout.id,
            project: change.project,
            changeNumber: change.number,
            revision: change.currentRevision,
            tag: REVIEW_TAG,
            message: result.outcome === 'hold' ? holdMessage(summary) : denyMessage(summary),
          },
          trx,
        );
      }
      return rollout;
    });
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
