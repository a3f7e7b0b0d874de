import type { GerritChange } from '../gerrit/gerrit-client.js';
import { startedMessage, holdMessage, denyMessage, type RolloutSummary } from '../messages/format-message.js';
import { rolloutLink } from '../messages/rollout-summary.js';
import type { DecisionResult } from '../policy/decide.js';
import type { Policy, RolloutRule } from '../policy/policy-config.js';

// What `rollgate replay` prints: one JSON line per decision and one per rollout that ran.

/** One line of `rollgate replay` output per decision (the shape issue 4 fixes). */
export interface DecisionLine {
  readonly kind: 'decision';
  readonly change: number;
  readonly project: string;
  readonly rule: string | null;
  readonly decision: 'allow' | 'hold' | 'deny' | 'ignore';
  readonly approvers: ReadonlyArray<{ readonly account: string; readonly roles: readonly string[] }>;
  readonly reasons: readonly string[];
  /** The review message rollgate posts for this decision; null when it posts none (ignore). */
  readonly comment: string | null;
}

/** One line per rollout that ran, when it ends. */
export interface RolloutLine {
  readonly kind: 'rollout';
  readonly change: number;
  readonly rule: string;
  readonly status: string;
  readonly steps: ReadonlyArray<{ readonly id: string; readonly status: string; readonly attempts: number }>;
}

/** `rolloutId` is undefined in a dry run: no rollout exists, so the message quotes none. */
export function decisionLine(change: GerritChange, rule: RolloutRule, result: DecisionResult, policy: Policy, rolloutId: number | undefined, publicUrl: string | undefined): DecisionLine {
  const summary: RolloutSummary = {
    id: rolloutId ?? 0,
    rule: rule.name,
    environment: rule.environment,
    workflow: rule.workflow,
    reasons: result.reasons,
    approvers: result.approvers,
    justification: result.justification ?? null,
    link: rolloutId === undefined ? undefined : rolloutLink(publicUrl, rolloutId),
  };
  const steps = policy.workflows[rule.workflow]?.steps.map((s) => s.id) ?? [];
  let comment = result.outcome === 'allow' ? startedMessage(summary, steps) : result.outcome === 'hold' ? holdMessage(summary) : denyMessage(summary);
  if (rolloutId === undefined) comment = comment.replaceAll('rollout #0', 'dry run');
  return {
    kind: 'decision',
    change: change.number,
    project: change.project,
    rule: rule.name,
    decision: result.outcome,
    approvers: result.approvers.map((a) => ({ account: a.display, roles: [...a.roles] })),
    reasons: result.reasons.map((r) => r.message),
    comment,
  };
}
