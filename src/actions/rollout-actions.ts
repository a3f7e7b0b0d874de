import type { AuditKind } from '../audit/audit-trail.js';
import type { RolloutRow } from '../db/schema.js';
import type { GerritAccount } from '../gerrit/gerrit-client.js';
import { asCommentApproval } from '../rollouts/approval-store.js';
import type { CommandVerb } from '../policy/comment-command.js';
import { displayName, type Approver, type DecisionResult } from '../policy/decide.js';
import type { ActionDeps } from './action-deps.js';
import { decideHeldAgain } from './decide-held-again.js';
import { recordRedecision } from './record-decision.js';
import { mergeGrants, type RoleGrant } from '../policy/roles.js';
import { resolveRoles } from '../policy/voter-roles.js';
import { actRequestFor, relationTo, whoMayAct, type ActVerdict, type Actor, type ChangeRelation } from '../policy/who-may-act.js';

/** Where an action came from: a `/rollout` comment on the change, or rollgate's HTTP API (and web page). */
export type ActionSource = 'comment' | 'api';

/** Someone acting on a rollout: a comment's author, or an operator logged in to rollgate. */
export interface ActingPerson {
  readonly account: GerritAccount;
  /** Roles from IdP group claims (API only). Roles from Gerrit groups are looked up again for every action. */
  readonly idpGrants: readonly RoleGrant[];
  readonly source: ActionSource;
  /** Unique per comment or request: the keys of the messages the action posts (`event:<id>`, `api:<uuid>`). */
  readonly key: string;
  /** The comment's stored event, kept with an approval; null for the API. */
  readonly eventId: number | null;
}

/**
 * What an action came to. `done`: it happened. `forbidden`: not with this person's roles, or on
 * their own change. `nothing`: the rollout is not in a state this action applies to.
 */
export interface ActionResult {
  readonly outcome: 'done' | 'forbidden' | 'nothing';
  readonly message: string;
}

/**
 * The one implementation of what people do to a rollout, for `/rollout` comments and for the
 * HTTP API alike: the same judgement of who may (`whoMayAct`), the same decision on
 * approval (recorded, then decided again at this moment: roles, no self-approval, quorum,
 * windows, justification), the same engine operations. Each action is appended to the audit
 * trail (`command` or `api-action`, and `approval` for an approval that was taken); an API action
 * that was done is also announced on the change, since nobody commented there.
 */
export async function actOnRollout(d: ActionDeps, rollout: RolloutRow, verb: CommandVerb, person: ActingPerson, text: string): Promise<ActionResult> {
  switch (verb) {
    case 'approve':
      if (rollout.status === 'held') return approveHeld(d, rollout, person, text);
      if (await waitsAtGate(d, rollout)) return approveAtGate(d, rollout, person, text);
      return audited(d, rollout, verb, person, text, { outcome: 'nothing', message: `rollout #${rollout.id} (${rollout.rule}) is ${describe(rollout)}; it is not waiting for an approval.` });
    case 'deny':
      return denyRollout(d, rollout, person, text);
    default:
      return operateRollout(d, rollout, verb, person, text);
  }
}

/** Records an approval of a held rollout and decides it again now; it starts if the rule is met. */
export async function approveHeld(d: ActionDeps, rollout: RolloutRow, person: ActingPerson, justification: string): Promise<ActionResult> {
  const policy = d.policy();
  const rule = policy.rollouts.find((r) => r.name === rollout.rule);
  if (!rule) return audited(d, rollout, 'approve', person, justification, { outcome: 'nothing', message: `${rollout.rule}: rule no longer in the policy, left on hold` });
  const change = await d.gerrit.getChange(rollout.project, rollout.change_number);
  const who = displayName(person.account);
  const grants = await rolesOf(d, person);
  // someone whose approval could not count (no role that helps, or their own change where the
  // rule forbids that) changes nothing: no approval stored, no new decision (their text must not
  // become the rollout's justification); a comment gets this as a reply, the API as its answer
  const verdict = await judge(d, rollout, 'approve', person, grants, relationTo(change, person.account.accountId));
  if (!verdict.allowed) return audited(d, rollout, 'approve', person, justification, refused(verdict));
  if (person.source === 'api') await announce(d, rollout, 'approve', person, grants, justification);

  // decided again at this moment: membership and windows as they are now, not at the merge
  const approval = { account: person.account, justification, source: person.source };
  const { result, rolesByAccount, commentApprovals, at, binding } = await decideHeldAgain(d, { policy, rollout, rule, change, added: { approval, grants } });
  const trigger = person.source;
  const updated = await d.db.transaction().execute(async (trx) => {
    await d.approvals.add({ rolloutId: rollout.id, accountId: person.account.accountId, username: person.account.username, justification, source: person.source, eventId: person.eventId, idpGrants: person.idpGrants }, trx);
    const row = await recordRedecision(
      d,
      { rollout, rule, change, result, rolesByAccount, commentApprovals, at, binding, trigger, actor: person.account.username, policyVersion: policy.version, keySuffix: person.key },
      trx,
    );
    if (row) await d.audit?.append(auditEvent('approval', rollout, person, `approved by ${who}${person.source === 'api' ? ' via rollgate' : ''}: ${justification}`, { justification, roles: grants, outcome: result.outcome }), trx);
    return row;
  });
  if (!updated) return audited(d, rollout, 'approve', person, justification, { outcome: 'nothing', message: `${rollout.rule}: no longer held` });
  d.metrics?.decisions.inc({ outcome: result.outcome, trigger });
  if (result.outcome === 'allow') d.onQueued();
  else d.onReport();
  const message = result.outcome === 'allow' ? `${rollout.rule}: approved by ${who}, queued (rollout #${rollout.id})` : `${rollout.rule}: still ${result.outcome} after ${who}'s approval`;
  return audited(d, rollout, 'approve', person, justification, { outcome: 'done', message });
}

/** Passes the approval step a rollout waits at; by its author only where the rule lets authors approve (`whoMayAct`). */
export async function approveAtGate(d: ActionDeps, rollout: RolloutRow, person: ActingPerson, justification: string): Promise<ActionResult> {
  const who = displayName(person.account);
  if (!d.operations) return audited(d, rollout, 'approve', person, justification, { outcome: 'nothing', message: `${who}'s ${how(person, 'approve')} has nothing to approve: the workflow engine is not running here.` });
  // separation of duties holds at a gate too, as the rule has it: whoMayAct says whether the author may
  const relation = relationTo(await d.gerrit.getChange(rollout.project, rollout.change_number), person.account.accountId);
  const grants = await rolesOf(d, person);
  const verdict = await judge(d, rollout, 'approve', person, grants, relation);
  if (!verdict.allowed) return audited(d, rollout, 'approve', person, justification, refused(verdict));
  // the engine asks whoMayAct again for the gates waiting when it passes them
  const result = await d.operations.approveGate(rollout.id, actorOf(person, grants, relation), justification);
  if (result.ok) {
    await d.audit?.append(auditEvent('approval', rollout, person, `gate passed by ${who}: ${justification}`, { justification, roles: grants }));
    if (person.source === 'api') await announce(d, rollout, 'approve', person, grants, justification);
  }
  return audited(d, rollout, 'approve', person, justification, { outcome: result.ok ? 'done' : result.forbidden ? 'forbidden' : 'nothing', message: result.message });
}

/**
 * `deny`: a held rollout will not run; one waiting at an approval gate is stopped and rolled back
 * (the gate's roles may do that, like the rule's).
 */
export async function denyRollout(d: ActionDeps, rollout: RolloutRow, person: ActingPerson, reason: string): Promise<ActionResult> {
  const who = displayName(person.account);
  const grants = await rolesOf(d, person);
  // stopping a rollout is never self-approval: the author's relation does not matter to a deny
  const verdict = await judge(d, rollout, 'deny', person, grants, 'unknown');
  if (verdict.allowed && verdict.at === 'gate' && d.operations) {
    const result = await d.operations.cancel(rollout.id, actorOf(person, grants, 'unknown'), `denied at the approval gate: ${reason}`);
    if (result.ok) await recordGateDenial(d, rollout, person, grants, reason);
    if (result.ok && person.source === 'api') await announce(d, rollout, 'deny', person, grants, reason);
    return audited(d, rollout, 'deny', person, reason, { outcome: result.ok ? 'done' : 'nothing', message: result.message });
  }
  if (!verdict.allowed) return audited(d, rollout, 'deny', person, reason, refused(verdict));
  if (verdict.at !== 'held') {
    return audited(d, rollout, 'deny', person, reason, { outcome: 'nothing', message: `${who}'s ${how(person, 'deny')} has nothing to deny: the workflow engine is not running here.` });
  }
  const rule = ruleOf(d, rollout);
  if (!rule) return audited(d, rollout, 'deny', person, reason, { outcome: 'nothing', message: `${rollout.rule}: rule no longer in the policy, left on hold` });
  if (person.source === 'api') await announce(d, rollout, 'deny', person, grants, reason);
  const result: DecisionResult = {
    outcome: 'deny',
    reasons: [{ code: 'denied-by-command', message: `denied by ${who}: ${reason}` }],
    approvers: rollout.approvers as Approver[],
    justification: rollout.justification ?? undefined,
  };
  // recorded like any other decision: the rollout row, a `decisions` entry with its inputs and the
  // policy version, and the deny message (keyed rollout:<id>:deny:<person key>), in one transaction
  const change = await d.gerrit.getChange(rollout.project, rollout.change_number);
  const commentApprovals = (await d.approvals.forRollout(rollout.id)).map(asCommentApproval);
  const policy = d.policy();
  const updated = await d.db.transaction().execute((trx) =>
    recordRedecision(
      d,
      {
        rollout,
        rule,
        change,
        result,
        rolesByAccount: new Map([[person.account.accountId, grants]]),
        commentApprovals,
        at: new Date(),
        trigger: person.source,
        actor: person.account.username ?? who,
        policyVersion: policy.version,
        keySuffix: person.key,
      },
      trx,
    ),
  );
  if (!updated) return audited(d, rollout, 'deny', person, reason, { outcome: 'nothing', message: `${rollout.rule}: no longer held` });
  d.metrics?.decisions.inc({ outcome: 'deny', trigger: person.source === 'api' ? 'api' : 'command' });
  d.onReport();
  return audited(d, rollout, 'deny', person, reason, { outcome: 'done', message: `${rollout.rule}: denied by ${who}` });
}

/** A deny at an approval gate is a decision too: a `decisions` entry, with the person's roles and the policy version. */
async function recordGateDenial(d: ActionDeps, rollout: RolloutRow, person: ActingPerson, grants: readonly RoleGrant[], reason: string): Promise<void> {
  const rule = ruleOf(d, rollout);
  if (!rule) return;
  const change = await d.gerrit.getChange(rollout.project, rollout.change_number);
  const result: DecisionResult = { outcome: 'deny', reasons: [{ code: 'denied-by-command', message: `denied at the approval gate by ${displayName(person.account)}: ${reason}` }], approvers: rollout.approvers as Approver[], justification: rollout.justification ?? undefined };
  await d.decisions.record({
    rolloutId: rollout.id,
    rule,
    change,
    result,
    rolesByAccount: new Map([[person.account.accountId, grants]]),
    commentApprovals: [],
    at: new Date(),
    trigger: person.source,
    actor: person.account.username ?? displayName(person.account),
    policyVersion: d.policy().version,
  });
}

/**
 * Whether the rollout waits at an approval gate: parked (`waiting`), or `running` while a gate
 * step waits and a parallel step still runs. The same rule as `waitingForChange` (comments) and
 * `allowedActions` (the web page's buttons), so the API acts wherever the page offers it.
 */
async function waitsAtGate(d: ActionDeps, rollout: RolloutRow): Promise<boolean> {
  if (rollout.status !== 'waiting' && rollout.status !== 'running') return false;
  return (await d.reads.steps(rollout.id)).some((s) => s.status === 'waiting');
}

/**
 * `whoMayAct` on the rollout as it is now: its rule and workflow from the policy in force, the
 * approval steps waiting, the person's roles and relation to the change. The web page asks the
 * same question (`allowedActions`), so a button and the action behind it agree.
 */
async function judge(d: ActionDeps, rollout: RolloutRow, verb: CommandVerb, person: ActingPerson, grants: readonly RoleGrant[], relation: ChangeRelation): Promise<ActVerdict> {
  const steps = rollout.status === 'waiting' || rollout.status === 'running' ? await d.reads.steps(rollout.id) : [];
  return whoMayAct(actRequestFor(d.policy(), rollout, steps, { verb, source: person.source, actor: { display: displayName(person.account), relation, roles: grants.map((g) => g.role) } }));
}

/** A refusal as an action's answer: `forbidden` for who the person is, `nothing` for the rollout's state. */
function refused(verdict: Extract<ActVerdict, { allowed: false }>): ActionResult {
  return { outcome: verdict.refusal === 'forbidden' ? 'forbidden' : 'nothing', message: verdict.message };
}

/** `retry`, `rollback`, `cancel`: handed to the workflow engine once the role is checked. */
export async function operateRollout(d: ActionDeps, rollout: RolloutRow, verb: 'retry' | 'rollback' | 'cancel', person: ActingPerson, reason: string): Promise<ActionResult> {
  if (!d.operations) return audited(d, rollout, verb, person, reason, { outcome: 'nothing', message: `there is no rollout of this change to ${verb}: the workflow engine is not running here.` });
  const grants = await rolesOf(d, person);
  // the engine re-checks the state in the same update that acts, so two requests get one effect
  const verdict = await judge(d, rollout, verb, person, grants, 'unknown');
  if (!verdict.allowed) return audited(d, rollout, verb, person, reason, refused(verdict));
  const result = await d.operations[verb](rollout.id, actorOf(person, grants, 'unknown'), reason);
  if (result.ok && person.source === 'api') await announce(d, rollout, verb, person, grants, reason);
  return audited(d, rollout, verb, person, reason, { outcome: result.ok ? 'done' : 'nothing', message: result.message });
}

/** The person's roles now: their Gerrit groups (asked again) and, through the API, their IdP groups. */
export async function rolesOf(d: ActionDeps, person: ActingPerson): Promise<RoleGrant[]> {
  const fromGerrit = (await resolveRoles(d.gerrit, d.policy().roles, [person.account.accountId])).get(person.account.accountId) ?? [];
  return mergeGrants(fromGerrit, person.idpGrants);
}

export function actorOf(person: ActingPerson, grants: readonly RoleGrant[], relation: ChangeRelation): Actor {
  return { accountId: person.account.accountId, username: person.account.username, roles: grants.map((g) => g.role), relation, source: person.source };
}

/** How the person asked, in replies: the comment command, or the plain verb for the API. */
function how(person: ActingPerson, verb: CommandVerb): string {
  return person.source === 'comment' ? `/rollout ${verb}` : verb;
}

function ruleOf(d: ActionDeps, rollout: RolloutRow) {
  return d.policy().rollouts.find((r) => r.name === rollout.rule);
}

function describe(r: RolloutRow): string {
  return r.status.replace('_', ' ');
}

const PAST: Record<CommandVerb, string> = { approve: 'approved', deny: 'denied', retry: 'retry requested', rollback: 'rollback requested', cancel: 'cancel requested' };

/** An API action on the change's page in Gerrit: nobody commented there, so rollgate says who did what and why. */
async function announce(d: ActionDeps, rollout: RolloutRow, verb: CommandVerb, person: ActingPerson, grants: readonly RoleGrant[], text: string): Promise<void> {
  const roles = grants.map((g) => `${g.role} via ${g.via}`).join(', ');
  const why = text.trim() === '' ? '' : `: ${text.trim()}`;
  await d.messages.announce(rollout, person.key, `rollgate: ${PAST[verb]} via rollgate by ${displayName(person.account)}${roles ? ` (${roles})` : ''}${why}`);
  d.onReport();
}

/** Appends the action (done or not) to the audit trail, and returns its result. */
async function audited(d: ActionDeps, rollout: RolloutRow, verb: CommandVerb, person: ActingPerson, text: string, result: ActionResult): Promise<ActionResult> {
  const kind: AuditKind = person.source === 'api' ? 'api-action' : 'command';
  const said = person.source === 'api' ? `${verb} via rollgate` : `/rollout ${verb}`;
  await d.audit?.append(auditEvent(kind, rollout, person, `${said} by ${displayName(person.account)}: ${result.outcome}: ${result.message.replace(/^rollgate: /, '')}`, { verb, text, outcome: result.outcome }));
  return result;
}

function auditEvent(kind: AuditKind, rollout: RolloutRow, person: ActingPerson, summary: string, data: Record<string, unknown>) {
  return { kind, actor: displayName(person.account), rolloutId: rollout.id, project: rollout.project, changeNumber: rollout.change_number, summary, data: { ...data, source: person.source, accountId: person.account.accountId } };
}
