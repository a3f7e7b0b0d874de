import { z } from 'zod';
import { parseDuration } from '../duration.js';
import type { GerritChange } from '../gerrit/gerrit-client.js';
import { displayName, type Approver, type CommentApproval, type DecisionResult, type Reason } from './decide.js';
import { evaluateChange } from './evaluate-change.js';
import type { Policy, RolloutRule } from './policy-config.js';
import type { RoleGrant } from './roles.js';
import { closedWindow } from './windows.js';

/**
 * What a decision was given for: the merged revision, the workflow definition and the policy
 * version, with a digest of the three. It is stored with the rollout; a start under another
 * workflow or policy digest decides again. The digests are computed outside this pure folder
 * (src/actions/approval-binding.ts); here they are compared.
 */
export const ApprovalBindingSchema = z.strictObject({
  revision: z.string().min(1),
  workflowDigest: z.string().min(1),
  policyVersion: z.string().min(1),
  digest: z.string().min(1),
  /** When the decision was made (ISO 8601). */
  decidedAt: z.string().datetime(),
});
export type ApprovalBinding = z.infer<typeof ApprovalBindingSchema>;

/** The stored binding of a rollout row, or undefined when it has none (decided before bindings were kept, or not valid). */
export function storedBinding(value: unknown): ApprovalBinding | undefined {
  const parsed = ApprovalBindingSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** The shortest `approval.max_age` of a rule's approval groups, in ms; undefined when none is set. */
export function approvalMaxAgeMs(rule: RolloutRule): { readonly ms: number; readonly text: string } | undefined {
  const ages = rule.approval.flatMap((g) => (g.max_age === undefined ? [] : [{ ms: parseDuration(g.max_age)!, text: g.max_age }]));
  return ages.sort((a, b) => a.ms - b.ms)[0];
}

/**
 * The approvals that still count at `at` under the rule's `approval.max_age`: a `/rollout approve`
 * ages from when it was given, a vote from `votesSince` (Gerrit's REST does not say when a vote
 * was cast, so it counts from the merge decision that first read it). Returns the change with
 * expired votes left out, the comment approvals still fresh, and one line per expired approval.
 */
export function freshApprovals(input: {
  readonly rule: RolloutRule;
  readonly change: GerritChange;
  readonly commentApprovals: readonly CommentApproval[];
  readonly votesSince: Date;
  readonly at: Date;
}): { readonly change: GerritChange; readonly commentApprovals: readonly CommentApproval[]; readonly expired: ReadonlyArray<{ readonly accountId: number; readonly message: string }> } {
  const { rule, change, at } = input;
  const maxAge = approvalMaxAgeMs(rule);
  if (!maxAge) return { change, commentApprovals: input.commentApprovals, expired: [] };
  const tooOld = (given: Date) => at.getTime() - given.getTime() > maxAge.ms;
  const expired: Array<{ accountId: number; message: string }> = [];
  const labels = new Set(rule.approval.map((g) => g.label));
  const votes: Record<string, GerritChange['votes'][string]> = {};
  for (const [label, list] of Object.entries(change.votes)) {
    if (!labels.has(label) || !tooOld(input.votesSince)) {
      votes[label] = list;
      continue;
    }
    votes[label] = list.filter((v) => v.value <= 0); // a veto never expires
    for (const v of list.filter((x) => x.value > 0)) {
      expired.push({ accountId: v.account.accountId, message: `${displayName(v.account)}'s ${label} +${v.value} is older than approval.max_age ${maxAge.text} (counted since ${input.votesSince.toISOString()}): it no longer counts` });
    }
  }
  const commentApprovals = input.commentApprovals.filter((a) => {
    if (a.givenAt === undefined || !tooOld(a.givenAt)) return true;
    expired.push({ accountId: a.account.accountId, message: `${displayName(a.account)}'s "/rollout approve" of ${a.givenAt.toISOString()} is older than approval.max_age ${maxAge.text}: it no longer counts` });
    return false;
  });
  return { change: { ...change, votes }, commentApprovals, expired };
}

/**
 * A held rollout's rule decided again at `at` with only the approvals still fresh under
 * `approval.max_age`; each one that expired is a reason (`approval-expired`), so a hold says why
 * an approval it had no longer counts. Serve's decisions again and replay's both decide through here.
 */
export function decideWithFreshApprovals(input: {
  readonly policy: Policy;
  readonly rule: RolloutRule;
  readonly change: GerritChange;
  readonly rolesByAccount: ReadonlyMap<number, readonly RoleGrant[]>;
  readonly commentApprovals: readonly CommentApproval[];
  readonly votesSince: Date;
  readonly at: Date;
}): DecisionResult {
  const fresh = freshApprovals(input);
  const [decision] = evaluateChange({ policy: input.policy, change: fresh.change, rolesByAccount: input.rolesByAccount, commentApprovals: fresh.commentApprovals, at: input.at, onlyRule: input.rule.name });
  const result = decision!.result;
  if (fresh.expired.length === 0) return result;
  return { ...result, reasons: [...fresh.expired.map((e) => ({ code: 'approval-expired' as const, message: e.message })), ...result.reasons] };
}

export interface StartCheckInput {
  /** The policy in use now. */
  readonly policy: Policy;
  readonly ruleName: string;
  /** The change as Gerrit REST shows it now. */
  readonly change: GerritChange;
  /** Everyone's roles from their Gerrit groups as they are now. */
  readonly rolesByAccount: ReadonlyMap<number, readonly RoleGrant[]>;
  /** Approvals given after the merge, oldest first, with when each was given. */
  readonly commentApprovals: readonly CommentApproval[];
  /** Since when the change's votes count (the merge decision). */
  readonly votesSince: Date;
  /** The moment of the start. */
  readonly at: Date;
  /** What the rollout was decided with: who counted, and what for (undefined: no binding was kept). */
  readonly decided: {
    readonly approvers: readonly Approver[];
    readonly binding: ApprovalBinding | undefined;
    /** The workflow the rollout was planned with, when known: a rule that now names another is a new decision. */
    readonly workflow?: string;
  };
  /** What it would start under now (undefined: the rule is gone, so there is no workflow to bind to). */
  readonly binding: ApprovalBinding | undefined;
}

export interface StartCheck {
  /** The decision now: `allow` starts the rollout, `hold` and `deny` send it back. */
  readonly result: DecisionResult;
  /** What changed since the decision, in words, for the message on the change (empty: nothing did). */
  readonly changed: readonly string[];
  /** Whether the start is under another workflow or policy than the decision: a new decision is recorded even when it allows. */
  readonly rebound: boolean;
}

const short = (digest: string) => digest.slice(0, 12);

/**
 * Decides a queued rollout again at the moment a worker starts it: the rule of the policy in use
 * now, the approvers' groups now, approvals younger than `approval.max_age`, the windows now
 * (break glass given for a window still overrides it). Says, in words, what changed since the
 * decision: a closed window, an approver who lost a role, an expired approval, another policy or
 * workflow. Pure: the caller reads Gerrit and the database and records what this returns.
 */
export function checkAtStart(input: StartCheckInput): StartCheck {
  const { policy, at, decided } = input;
  const changed: string[] = [];
  const before = decided.binding;
  const now = input.binding;
  if (before && now && before.policyVersion !== now.policyVersion) changed.push(`policy changed from ${short(before.policyVersion)} to ${short(now.policyVersion)}`);
  const rule = policy.rollouts.find((r) => r.name === input.ruleName);
  if (before && now && rule && before.workflowDigest !== now.workflowDigest && (decided.workflow === undefined || decided.workflow === rule.workflow)) {
    changed.push(`workflow ${rule.workflow} changed since the decision (definition ${short(before.workflowDigest)} to ${short(now.workflowDigest)})`);
  }
  const renamed = rule !== undefined && decided.workflow !== undefined && decided.workflow !== rule.workflow;
  if (renamed) changed.push(`rule ${rule.name} now runs workflow ${rule.workflow} instead of ${decided.workflow}`);
  const rebound = renamed || (before !== undefined && now !== undefined && before.digest !== now.digest);

  if (!rule) {
    const message = `rule ${input.ruleName} is no longer in the policy in use (${short(policy.version)})`;
    changed.push(message);
    const reasons: Reason[] = [{ code: 'rule-removed', message }];
    return { result: { outcome: 'deny', reasons, approvers: [], justification: undefined }, changed, rebound: true };
  }

  const fresh = freshApprovals({ rule, change: input.change, commentApprovals: input.commentApprovals, votesSince: input.votesSince, at });
  const [decision] = evaluateChange({ policy, change: fresh.change, rolesByAccount: input.rolesByAccount, commentApprovals: fresh.commentApprovals, at, onlyRule: rule.name });
  const result = decision!.result;

  const closed = closedWindow(rule.windows, at);
  if (closed && result.reasons.some((r) => r.code === 'window-closed')) changed.push(`the window is now closed: ${closed.reason}`);

  const countsNow = new Set(result.approvers.map((a) => a.accountId));
  for (const a of decided.approvers) {
    if (countsNow.has(a.accountId)) continue;
    const rolesNow = (input.rolesByAccount.get(a.accountId) ?? []).map((g) => g.role);
    const lost = a.roles.filter((role) => !rolesNow.includes(role));
    const expiry = fresh.expired.find((e) => e.accountId === a.accountId);
    if (lost.length > 0) {
      const had = a.groups.length > 0 ? ` (had it via ${a.groups.join(', ')} when the rollout was decided)` : '';
      changed.push(`${a.display} no longer has ${lost.join(', ')}${had}`);
    } else if (expiry) changed.push(expiry.message);
    else changed.push(`${a.display}'s approval (${a.via}) no longer counts`);
  }
  for (const e of fresh.expired) {
    if (!decided.approvers.some((a) => a.accountId === e.accountId)) changed.push(e.message);
  }
  if (result.outcome !== 'allow' && changed.length === 0) changed.push(`rule ${rule.name} no longer allows the rollout at ${at.toISOString()}`);

  // what changed is part of the decision's reasons, so the API, explain and the page say it too
  const reasons: Reason[] = result.outcome === 'allow' && !rebound ? [...result.reasons] : [...changed.map((message) => ({ code: 'changed-since-decision' as const, message })), ...result.reasons];
  return { result: { ...result, reasons }, changed, rebound };
}
