import type { GerritAccount, GerritChange } from '../gerrit/gerrit-client.js';
import type { ApprovalGroup, RolloutRule } from './policy-config.js';
import type { RoleGrant } from './roles.js';
import { breakGlassGrants, groupCounts, relationTo, whoHolds, type ChangeRelation, type RoleSources } from './who-may-act.js';
import { closedWindow, windowOpensAt } from './windows.js';

export type { RoleSources } from './who-may-act.js';

/**
 * The decision for one rule and one merged change, as pure data. Every outcome carries its
 * reasons (what was required, what was found, how to satisfy it) so the same words reach the
 * database, the Gerrit comment, `rollgate explain` and the audit trail.
 */
export type Outcome = 'allow' | 'hold' | 'deny';

export type ReasonCode =
  | 'approved'
  | 'vote-too-low'
  | 'self-approval'
  | 'missing-role'
  | 'counted-elsewhere'
  | 'not-enough-approvers'
  | 'justification-missing'
  | 'justification-given'
  | 'vetoed'
  | 'window-closed'
  | 'break-glass'
  | 'denied-by-command'
  | 'expired'
  | 'approval-expired'
  | 'changed-since-decision'
  | 'rule-removed';

export interface Reason {
  readonly code: ReasonCode;
  readonly message: string;
}

export interface Approver {
  readonly accountId: number;
  readonly display: string;
  readonly value: number;
  /** How the approval was given: `Code-Review +2` or `/rollout approve`. */
  readonly via: string;
  /** The rule's roles this person holds, and the groups that give them. */
  readonly roles: readonly string[];
  readonly groups: readonly string[];
}

export interface DecisionResult {
  readonly outcome: Outcome;
  readonly reasons: readonly Reason[];
  /** The approvals that counted toward the quorum. */
  readonly approvers: readonly Approver[];
  readonly justification: string | undefined;
}

export interface CommentApproval {
  readonly account: GerritAccount;
  readonly justification: string;
  /** Where it was given: a `/rollout approve` comment (the default) or rollgate's API or web page. */
  readonly source?: 'comment' | 'api';
  /** When it was given; `approval.max_age` counts from here. */
  readonly givenAt?: Date;
}

export interface DecisionInput {
  readonly rule: RolloutRule;
  readonly change: Pick<GerritChange, 'owner' | 'uploader' | 'votes'>;
  /** Roles (with the group that gives each) of every voter and commenter, by account id. */
  readonly rolesByAccount: ReadonlyMap<number, readonly RoleGrant[]>;
  /** From the `Rollout-Justification:` footer. */
  readonly justification: string | undefined;
  /** `/rollout approve` commands given after the merge, oldest first; each counts like a vote at the minimum. */
  readonly commentApprovals?: readonly CommentApproval[];
  /** The moment the decision is for: windows are judged at this time. */
  readonly at: Date;
  /** Which groups give each role (the policy's roles.yaml), so a hold can say whom to ask. */
  readonly roleSources?: RoleSources;
}

export function displayName(account: GerritAccount): string {
  return account.username ?? account.name ?? account.email ?? `account ${account.accountId}`;
}

const signed = (n: number) => (n > 0 ? `+${n}` : String(n));

/** One expression of approval: a vote on a label, or a `/rollout approve` comment. */
interface Ballot {
  readonly account: GerritAccount;
  readonly label: string | undefined; // undefined: a comment approval, good for any group
  readonly value: number;
  readonly via: string;
}

export function decide(input: DecisionInput): DecisionResult {
  const { rule, change } = input;
  const groups = rule.approval;
  const reasons: Reason[] = [];
  // owner and uploader of the merged patch set: whoMayAct's relation, which says whose approval counts
  const relationOf = (id: number): ChangeRelation => relationTo(change, id);
  const grantsOf = (id: number) => input.rolesByAccount.get(id) ?? [];
  const labels = [...new Set(groups.map((g) => g.label))];
  const ballots: Ballot[] = [
    ...labels.flatMap((label) => (change.votes[label] ?? []).map((v) => ({ account: v.account, label, value: v.value, via: `${label} ${signed(v.value)}` }))),
    ...(input.commentApprovals ?? []).map((a) => ({ account: a.account, label: undefined, value: Math.max(...groups.map((g) => g.min_value)), via: a.source === 'api' ? 'the rollgate API' : '/rollout approve' })),
  ];

  // a negative vote at the group's minimum from someone holding its roles stops the rollout
  for (const b of ballots) {
    const vetoing = groups.find((g) => b.label === g.label && b.value <= -g.min_value && heldRoles(grantsOf(b.account.accountId), g).length > 0);
    if (vetoing) {
      const who = displayName(b.account);
      reasons.push({ code: 'vetoed', message: `${who} (${describeGrants(heldRoles(grantsOf(b.account.accountId), vetoing))}) voted ${b.via}: the rollout is vetoed` });
    }
  }

  // which ballots could count for which group, and why the others cannot
  const eligible = groups.map(() => new Map<number, Ballot>());
  for (const b of ballots) {
    if (b.value <= 0) continue;
    const fits = groups.map((g, i) => ({ g, i, why: ineligibility(b, g, relationOf(b.account.accountId), grantsOf(b.account.accountId)) }));
    const ok = fits.filter((f) => f.why === undefined);
    for (const f of ok) if (!eligible[f.i]!.has(b.account.accountId)) eligible[f.i]!.set(b.account.accountId, b);
    if (ok.length === 0) {
      const relevant = fits.filter((f) => b.label === undefined || f.g.label === b.label);
      const why = relevant.map((f) => f.why!).sort((a, c) => RANK[a.code] - RANK[c.code])[0];
      if (why) reasons.push({ code: why.code, message: why.message(displayName(b.account), b.via) });
    }
  }

  // different people for different groups: a maximum matching of people to the groups' seats
  const assignment = matchApprovers(groups, eligible);
  const approvers: Approver[] = [];
  const counted = new Set<number>();
  groups.forEach((g, i) => {
    for (const id of assignment[i]!) {
      const b = eligible[i]!.get(id)!;
      const grants = heldRoles(grantsOf(id), g);
      counted.add(id);
      approvers.push({ accountId: id, display: displayName(b.account), value: b.value, via: b.via, roles: grants.map((x) => x.role), groups: grants.map((x) => x.via) });
      reasons.push({ code: 'approved', message: `${displayName(b.account)} (${describeGrants(grants)}) approved with ${b.via}` });
    }
  });
  groups.forEach((g, i) => {
    const missing = g.min_approvers - assignment[i]!.length;
    if (missing <= 0) return;
    const elsewhere = [...eligible[i]!.keys()].filter((id) => counted.has(id) && !assignment[i]!.includes(id));
    for (const id of elsewhere) {
      reasons.push({ code: 'counted-elsewhere', message: `${displayName(eligible[i]!.get(id)!.account)} already counts for another approval group; one person counts once` });
    }
    const which = groups.length > 1 ? `approval group ${i + 1} of rule ${rule.name}` : `rule ${rule.name}`;
    reasons.push({
      code: 'not-enough-approvers',
      message:
        `${which} needs ${g.min_approvers} approver${g.min_approvers > 1 ? 's' : ''} with ${g.label} ${signed(g.min_value)} and role ${g.roles.join(' or ')}` +
        `${g.forbid_self_approval ? ', not the change owner or uploader' : ''}; ${assignment[i]!.length} found, ${missing} missing. ` +
        `A person with role ${g.roles.join(' or ')} can vote ${g.label} ${signed(g.min_value)} or comment "/rollout approve <justification>" on this change.` +
        whoHolds(g.roles, input.roleSources),
    });
  });

  // only a person whose approval could count (or who may break glass) can justify the rollout:
  // anyone else's "/rollout approve <text>" must not satisfy a required justification
  const glassRoles = rule.break_glass?.roles ?? [];
  const glassGrants = (a: CommentApproval) => breakGlassGrants(rule, relationOf(a.account.accountId), grantsOf(a.account.accountId));
  const mayBreakGlass = (a: CommentApproval) => glassGrants(a).length > 0;
  const mayJustify = (a: CommentApproval) => mayBreakGlass(a) || groups.some((g) => groupCounts(g, relationOf(a.account.accountId), grantsOf(a.account.accountId)).counts);
  const latestFirst = [...(input.commentApprovals ?? [])].reverse().filter((a) => a.justification.trim() !== '');
  const fromComments = latestFirst.find(mayJustify)?.justification.trim();
  const justification = input.justification?.trim() || fromComments;
  let outcome: Outcome = reasons.some((r) => r.code === 'not-enough-approvers') ? 'hold' : 'allow';
  if (rule.justification === 'required' && justification === undefined) {
    outcome = 'hold';
    reasons.push({
      code: 'justification-missing',
      message: `rule ${rule.name} requires a justification: a "Rollout-Justification: <why>" footer in the commit message, or "/rollout approve <justification>" in a comment by someone whose approval counts`,
    });
  } else if (justification !== undefined) {
    reasons.push({ code: 'justification-given', message: `justification: ${justification}` });
  }

  const closed = closedWindow(rule.windows, input.at);
  if (closed) {
    // breaking glass is a person's own act: their "/rollout approve <why>", never the author's footer
    const breaker = latestFirst.find(mayBreakGlass);
    if (breaker) {
      const grants = glassGrants(breaker);
      reasons.push({
        code: 'break-glass',
        message: `closed window overridden (break glass): ${closed.reason}; by ${displayName(breaker.account)} (${describeGrants(grants)}), because: ${breaker.justification.trim()}`,
      });
    } else {
      outcome = outcome === 'allow' || outcome === 'hold' ? 'hold' : outcome;
      const opens = windowOpensAt(rule.windows, input.at);
      const whenOpen = opens ? `once the window opens (${formatOpening(opens)})` : 'once the window is open';
      const how =
        glassRoles.length > 0
          ? `A person with role ${glassRoles.join(' or ')} can override it with "/rollout approve <justification>"; otherwise comment "/rollout approve <justification>" ${whenOpen}.${whoHolds(glassRoles, input.roleSources)}`
          : `Comment "/rollout approve <justification>" ${whenOpen}.`;
      reasons.push({ code: 'window-closed', message: `rule ${rule.name} is in a closed window now: ${closed.reason}. ${how}` });
    }
  }
  if (reasons.some((r) => r.code === 'vetoed')) outcome = 'deny';
  return { outcome, reasons, approvers, justification };
}

/** The person's roles that the group asks for. */
function heldRoles(grants: readonly RoleGrant[], g: ApprovalGroup): RoleGrant[] {
  return grants.filter((x) => g.roles.includes(x.role));
}

/** A window's opening time in words: `Mon 2026-11-30 00:00 UTC`. */
function formatOpening(at: Date): string {
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][at.getUTCDay()]!;
  return `it opens ${weekday} ${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function describeGrants(grants: readonly RoleGrant[]): string {
  return grants.map((x) => `${x.role} via ${x.via}`).join(', ');
}

type Ineligible = { readonly code: 'vote-too-low' | 'self-approval' | 'missing-role'; readonly message: (who: string, via: string) => string };
const RANK: Record<Ineligible['code'], number> = { 'self-approval': 0, 'missing-role': 1, 'vote-too-low': 2 };

/** Why a ballot cannot count for a group: its label and value here, who the person is from `groupCounts`. */
function ineligibility(b: Ballot, g: ApprovalGroup, relation: ChangeRelation, grants: readonly RoleGrant[]): Ineligible | undefined {
  if (b.label !== undefined && b.label !== g.label) return { code: 'missing-role', message: (who, via) => `${who}'s ${via} is not on label ${g.label}` };
  if (b.value < g.min_value) return { code: 'vote-too-low', message: (who, via) => `${who} voted ${via}; only ${signed(g.min_value)} or more counts` };
  const counts = groupCounts(g, relation, grants);
  if (counts.counts) return undefined;
  if (counts.why === 'self-approval') {
    return { code: 'self-approval', message: (who, via) => `${who}'s ${via} does not count: ${who} ${relation} the change (no self-approval)` };
  }
  const has = grants.length > 0 ? `holds only ${describeGrants(grants)}` : 'holds no role';
  return { code: 'missing-role', message: (who, via) => `${who}'s ${via} does not count: ${who} ${has}; needs one of ${g.roles.join(', ')}` };
}

/**
 * Assigns eligible people to each group's `min_approvers` seats so that nobody fills two seats,
 * maximising the seats filled (augmenting paths; the sizes are tiny). Returns account ids per group.
 */
function matchApprovers(groups: readonly ApprovalGroup[], eligible: ReadonlyArray<ReadonlyMap<number, Ballot>>): number[][] {
  const seats = groups.flatMap((g, i) => Array.from({ length: g.min_approvers }, () => i));
  const seatOf = new Map<number, number>(); // account → seat index
  const holder: Array<number | undefined> = seats.map(() => undefined);
  const tryAssign = (seat: number, seen: Set<number>): boolean => {
    for (const id of eligible[seats[seat]!]!.keys()) {
      if (seen.has(id)) continue;
      seen.add(id);
      const current = seatOf.get(id);
      if (current === undefined || tryAssign(current, seen)) {
        seatOf.set(id, seat);
        holder[seat] = id;
        return true;
      }
    }
    return false;
  };
  seats.forEach((_, seat) => tryAssign(seat, new Set()));
  const result = groups.map(() => [] as number[]);
  holder.forEach((id, seat) => {
    if (id !== undefined && seatOf.get(id) === seat) result[seats[seat]!]!.push(id);
  });
  // people eligible beyond the seats still approved; list them with the first group they fit
  const placed = new Set(result.flat());
  eligible.forEach((m, i) => {
    for (const id of m.keys()) {
      if (!placed.has(id) && result.every((r, j) => j === i || !eligible[j]!.has(id) || r.length >= groups[j]!.min_approvers)) {
        placed.add(id);
        result[i]!.push(id);
      }
    }
  });
  return result;
}
