import type { GerritAccount, GerritChange } from '../gerrit/gerrit-client.js';
import type { RolloutRule } from './policy-config.js';

/**
 * The decision for one rule and one merged change, as pure data. Every outcome carries its
 * reasons (what was required, what was found, how to satisfy it) so the same words reach the
 * database, the Gerrit comment and `rollgate explain`.
 */
export type Outcome = 'allow' | 'hold' | 'deny';

export interface Reason {
  readonly code:
    | 'approved'
    | 'vote-too-low'
    | 'self-approval'
    | 'missing-role'
    | 'not-enough-approvers'
    | 'justification-missing'
    | 'justification-given'
    | 'vetoed';
  readonly message: string;
}

export interface Approver {
  readonly accountId: number;
  readonly display: string;
  readonly value: number;
  /** How the approval was given: `Code-Review +2` or `/rollout approve`. */
  readonly via: string;
  readonly roles: readonly string[];
}

export interface DecisionResult {
  readonly outcome: Outcome;
  readonly reasons: readonly Reason[];
  /** The votes that counted toward the quorum. */
  readonly approvers: readonly Approver[];
  readonly justification: string | undefined;
}

export interface DecisionInput {
  readonly rule: RolloutRule;
  readonly change: Pick<GerritChange, 'owner' | 'uploader' | 'votes'>;
  /** Roles of each voter (and anyone else relevant), by account id. */
  readonly rolesByAccount: ReadonlyMap<number, readonly string[]>;
  /** From the `Rollout-Justification:` footer. */
  readonly justification: string | undefined;
  /** `/rollout approve` commands given after the merge, oldest first; each counts like a vote at the minimum. */
  readonly commentApprovals?: readonly CommentApproval[];
}

export interface CommentApproval {
  readonly account: GerritAccount;
  readonly justification: string;
}

export function displayName(account: GerritAccount): string {
  return account.username ?? account.name ?? account.email ?? `account ${account.accountId}`;
}

const signed = (n: number) => (n > 0 ? `+${n}` : String(n));

export function decide(input: DecisionInput): DecisionResult {
  const { rule, change, rolesByAccount } = input;
  const { label, min_value: minValue, roles: wanted, min_approvers: quorum, forbid_self_approval: forbidSelf } = rule.approval;
  const reasons: Reason[] = [];
  const approvers = new Map<number, Approver>();
  const selfIds = new Set([change.owner.accountId, ...(change.uploader ? [change.uploader.accountId] : [])]);

  const ballots = [
    ...(change.votes[label] ?? []).map((v) => ({ account: v.account, value: v.value, via: `${label} ${signed(v.value)}` })),
    ...(input.commentApprovals ?? []).map((a) => ({ account: a.account, value: minValue, via: '/rollout approve' })),
  ];
  for (const vote of ballots) {
    const who = displayName(vote.account);
    const roles = rolesByAccount.get(vote.account.accountId) ?? [];
    const relevant = roles.filter((r) => wanted.includes(r));
    if (vote.value <= -minValue && relevant.length > 0) {
      reasons.push({ code: 'vetoed', message: `${who} (${relevant.join(', ')}) voted ${label} ${signed(vote.value)}: the rollout is vetoed` });
      continue;
    }
    if (vote.value < minValue) {
      if (vote.value > 0) reasons.push({ code: 'vote-too-low', message: `${who} voted ${label} ${signed(vote.value)}; only ${signed(minValue)} or more counts` });
      continue;
    }
    if (forbidSelf && selfIds.has(vote.account.accountId)) {
      const what = vote.account.accountId === change.owner.accountId ? 'owns' : 'uploaded';
      reasons.push({ code: 'self-approval', message: `${who}'s ${vote.via} does not count: ${who} ${what} the change (no self-approval)` });
      continue;
    }
    if (relevant.length === 0) {
      const has = roles.length > 0 ? `holds only ${roles.join(', ')}` : 'holds no role';
      reasons.push({ code: 'missing-role', message: `${who}'s ${vote.via} does not count: ${who} ${has}; needs one of ${wanted.join(', ')}` });
      continue;
    }
    if (!approvers.has(vote.account.accountId)) {
      approvers.set(vote.account.accountId, { accountId: vote.account.accountId, display: who, value: vote.value, via: vote.via, roles: relevant });
      reasons.push({ code: 'approved', message: `${who} (${relevant.join(', ')}) approved with ${vote.via}` });
    }
  }

  const approverList = [...approvers.values()];
  const fromComments = [...(input.commentApprovals ?? [])].reverse().find((a) => a.justification.trim() !== '')?.justification.trim();
  const justification = input.justification?.trim() || fromComments;
  if (reasons.some((r) => r.code === 'vetoed')) {
    return { outcome: 'deny', reasons, approvers: approverList, justification };
  }
  let outcome: Outcome = 'allow';
  if (approverList.length < quorum) {
    outcome = 'hold';
    const missing = quorum - approverList.length;
    reasons.push({
      code: 'not-enough-approvers',
      message:
        `rule ${rule.name} needs ${quorum} approver${quorum > 1 ? 's' : ''} with ${label} ${signed(minValue)} and role ${wanted.join(' or ')}` +
        `${forbidSelf ? ', not the change owner or uploader' : ''}; ${approverList.length} found, ${missing} missing. ` +
        `A person with role ${wanted.join(' or ')} can comment "/rollout approve <justification>" on this change.`,
    });
  }
  if (rule.justification === 'required' && justification === undefined) {
    outcome = 'hold';
    reasons.push({
      code: 'justification-missing',
      message: `rule ${rule.name} requires a justification: a "Rollout-Justification: <why>" footer in the commit message, or "/rollout approve <justification>" in a comment`,
    });
  } else if (justification !== undefined) {
    reasons.push({ code: 'justification-given', message: `justification: ${justification}` });
  }
  return { outcome, reasons, approvers: approverList, justification };
}
