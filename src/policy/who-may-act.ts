import type { RolloutStatus } from '../db/schema.js';
import type { WorkflowDefinition } from './workflow-config.js';
import type { ApprovalGroup, Policy, RolloutRule } from './policy-config.js';

/**
 * The one place that says who may approve, deny, cancel, retry or roll back a rollout, and
 * whether a person's approval counts. Pure: plain data in, a verdict out. Comment commands and
 * the HTTP API (`rollout-actions.ts`), the web page's buttons (`allowed-actions.ts`), approval
 * gates (`operations.ts`), `rollgate replay`, and the decision itself (`decide.ts`, for whether
 * a vote or `/rollout approve` counts) all ask here, so they cannot disagree.
 *
 * The rules:
 * - approve a held rollout: the person's approval must be able to count for one of the rule's
 *   approval groups (one of its roles, and not the change's owner or uploader where that group
 *   says `forbid_self_approval`), or they may break glass (a `break_glass` role, and not the
 *   owner or uploader: breaking glass is never one's own change's);
 * - approve at an approval gate: one of the waiting gate's roles; the owner or uploader only
 *   when the rule lets authors approve at all (every approval group `forbid_self_approval: false`);
 * - deny a held rollout: one of the rule's approval or break-glass roles; at a gate also the gate's;
 * - cancel (queued, running, waiting), retry (failed, rolled back), rollback (succeeded or failed,
 *   with something to roll back): one of the rule's approval or break-glass roles.
 * Stopping a rollout is never self-approval, so deny, cancel and rollback are the author's too.
 */

export const ROLLOUT_VERBS = ['approve', 'deny', 'cancel', 'retry', 'rollback'] as const;
export type RolloutVerb = (typeof ROLLOUT_VERBS)[number];

/**
 * The person's relation to the change: its owner, the uploader of the merged patch set, or
 * neither. `unknown` (the caller could not tell) is judged like an author: the safe side.
 */
export type ChangeRelation = 'owns' | 'uploaded' | 'other' | 'unknown';
const RELATION_WORDS: Readonly<Record<ChangeRelation, string>> = { owns: 'owns', uploaded: 'uploaded', unknown: 'may be the author of', other: 'is not the author of' };

/**
 * A person acting on a rollout through the workflow engine (comments, the API), with the roles
 * they hold now; the engine asks `whoMayAct` again with it where the answer may have changed.
 */
export interface Actor {
  readonly accountId: number;
  readonly username?: string | undefined;
  readonly roles: readonly string[];
  /** Owner or uploader of the change, or neither; absent or 'unknown' is judged like an author (an approval gate asks). */
  readonly relation?: ChangeRelation;
  /** How they asked, for the words of a refusal; the API's when absent. */
  readonly source?: 'comment' | 'api';
}

/** What an operation did, in words for the person who asked (e.g. a Gerrit reply); `forbidden`: refused for who they are, not for the rollout's state. */
export interface OperationResult {
  readonly ok: boolean;
  readonly message: string;
  readonly forbidden?: boolean;
}

/** role → the Gerrit groups and IdP groups that give it (roles.yaml), so a refusal can say whom to ask. */
export interface RoleSources {
  readonly gerrit: Readonly<Record<string, readonly string[]>>;
  readonly idp: Readonly<Record<string, readonly string[]>>;
}

/** An approval step the rollout waits at now, with the roles that may pass it. */
export interface WaitingGate {
  readonly stepId: string;
  readonly roles: readonly string[];
}

export interface ActRequest {
  readonly verb: RolloutVerb;
  /** How the person asked: a `/rollout` comment, or rollgate's API (the web page posts to it). */
  readonly source: 'comment' | 'api';
  /** `id` is absent where no rollout row exists (a dry-run replay). */
  readonly rollout: { readonly id?: number; readonly rule: string; readonly status: RolloutStatus };
  /** The rollout's rule as the policy has it now; undefined when it left the policy. */
  readonly rule: RolloutRule | undefined;
  /** Approval steps waiting now (empty unless the rollout is parked at a gate or runs beside one). */
  readonly waitingGates: readonly WaitingGate[];
  /** Whether the workflow has rollback or undo steps. */
  readonly canRollBack: boolean;
  readonly actor: { readonly display: string; readonly relation: ChangeRelation; readonly roles: readonly string[] };
  readonly roleSources?: RoleSources;
}

export type ActVerdict =
  | {
      readonly allowed: true;
      /** `held`: a decision on a held rollout; `gate`: an approval step; `engine`: handed to the workflow engine. */
      readonly at: 'held' | 'gate' | 'engine';
      /** For an approval at a gate: the waiting gates this person may pass. */
      readonly gates: readonly string[];
    }
  | {
      readonly allowed: false;
      /**
       * `forbidden`: not this person (their roles, or their own change); `not-applicable`: not in
       * this state (nothing to approve, deny, retry …), whoever asks.
       */
      readonly refusal: 'forbidden' | 'not-applicable';
      readonly reason: 'missing-role' | 'self-approval' | 'state';
      readonly message: string;
    };

/** How a person relates to a change, from its owner and uploader account ids. */
export function relationTo(change: { readonly owner: { readonly accountId: number }; readonly uploader?: { readonly accountId: number } | null }, accountId: number): ChangeRelation {
  if (change.owner.accountId === accountId) return 'owns';
  if (change.uploader?.accountId === accountId) return 'uploaded';
  return 'other';
}

/**
 * Whether one approval group counts this person's approval, as far as who they are goes (the
 * vote's label and value are the caller's): the self-approval rule first, then the roles.
 * Returns the person's grants the group asks for when it counts.
 */
export function groupCounts<G extends { readonly role: string }>(
  group: Pick<ApprovalGroup, 'roles' | 'forbid_self_approval'>,
  relation: ChangeRelation,
  grants: readonly G[],
): { readonly counts: true; readonly grants: G[] } | { readonly counts: false; readonly why: 'self-approval' | 'missing-role' } {
  if (group.forbid_self_approval && relation !== 'other') return { counts: false, why: 'self-approval' };
  const held = grants.filter((g) => group.roles.includes(g.role));
  return held.length > 0 ? { counts: true, grants: held } : { counts: false, why: 'missing-role' };
}

/** The person's grants that let them break glass: a `break_glass` role, and never on their own change. */
export function breakGlassGrants<G extends { readonly role: string }>(rule: Pick<RolloutRule, 'break_glass'>, relation: ChangeRelation, grants: readonly G[]): G[] {
  if (relation !== 'other') return [];
  const roles = rule.break_glass?.roles ?? [];
  return grants.filter((g) => roles.includes(g.role));
}

/**
 * Whether the change's owner or uploader may pass the rollout's approval gates. A gate has no
 * setting of its own: it follows the rule, and lets an author through only when every approval
 * group of the rule lets authors approve (`forbid_self_approval: false`). A rule that left the
 * policy keeps the default: no.
 */
export function gateAllowsSelfApproval(rule: Pick<RolloutRule, 'approval'> | undefined): boolean {
  return rule !== undefined && rule.approval.every((g) => !g.forbid_self_approval);
}

/** The approval steps of `workflow` that wait now, from the rollout's step rows. */
export function waitingGates(workflow: WorkflowDefinition | undefined, steps: ReadonlyArray<{ readonly step_id: string; readonly status: string }>): WaitingGate[] {
  return steps.flatMap((s) => {
    const roles = s.status === 'waiting' ? workflow?.steps.find((d) => d.id === s.step_id)?.approval?.roles : undefined;
    return roles ? [{ stepId: s.step_id, roles }] : [];
  });
}

/** Whether rollgate can roll a rollout of `workflow` back: it has rollback steps or undo steps. */
export function canRollBack(workflow: WorkflowDefinition | undefined): boolean {
  return workflow !== undefined && (workflow.rollback.length > 0 || workflow.steps.some((s) => s.undo !== undefined));
}

/** The rule's roles for acting on its rollouts besides approving: approval and break-glass roles. */
export function ruleRoles(rule: Pick<RolloutRule, 'approval' | 'break_glass'> | undefined): string[] {
  if (!rule) return [];
  return [...new Set([...rule.approval.flatMap((g) => g.roles), ...(rule.break_glass?.roles ?? [])])];
}

/**
 * The question every surface asks (comments and the API, the web page's buttons, an approval
 * gate, replay), built one way: the rollout's rule and workflow from the policy in force, the
 * approval steps waiting among `steps` (none for a rollout with no step rows yet), and where to
 * find the people who hold a role.
 */
export function actRequestFor(
  policy: Policy,
  rollout: { readonly id?: number; readonly rule: string; readonly status: RolloutStatus; readonly workflow: string },
  steps: ReadonlyArray<{ readonly step_id: string; readonly status: string }>,
  ask: Pick<ActRequest, 'verb' | 'source' | 'actor'>,
): ActRequest {
  const workflow = policy.workflows[rollout.workflow];
  return {
    ...ask,
    rollout: { ...(rollout.id !== undefined ? { id: rollout.id } : {}), rule: rollout.rule, status: rollout.status },
    rule: policy.rollouts.find((r) => r.name === rollout.rule),
    waitingGates: waitingGates(workflow, steps),
    canRollBack: canRollBack(workflow),
    roleSources: { gerrit: policy.roles, idp: policy.idpRoles },
  };
}

const ENGINE_STATES: Readonly<Record<'cancel' | 'retry' | 'rollback', readonly RolloutStatus[]>> = {
  cancel: ['queued', 'running', 'waiting'],
  retry: ['failed', 'rolled_back'],
  rollback: ['succeeded', 'failed'],
};

/** May this person do `verb` to this rollout now? A refusal says why in words they can act on. */
export function whoMayAct(req: ActRequest): ActVerdict {
  const { verb, rollout, rule, actor } = req;
  const atGate = req.waitingGates.length > 0 && (rollout.status === 'waiting' || rollout.status === 'running');
  const ruleNeeds = ruleRoles(rule);
  const holds = (roles: readonly string[]) => roles.some((r) => actor.roles.includes(r));
  const say = words(req);

  if (verb === 'approve') {
    if (rollout.status === 'held') return approveHeld(req, say);
    if (atGate) return approveAtGate(req, say);
    return say.notApplicable(`${say.target} is ${describe(rollout.status)}; it is not waiting for an approval.`);
  }
  if (verb === 'deny') {
    if (rollout.status === 'held') return holds(ruleNeeds) ? allowed('held') : say.missingRole(ruleNeeds);
    if (atGate) {
      // stopping at a gate is the gate's people's call as much as the rule's
      const needed = [...new Set([...ruleNeeds, ...req.waitingGates.flatMap((g) => g.roles)])];
      return holds(needed) ? allowed('gate') : say.missingRole(needed);
    }
    return say.notApplicable(`${actor.display}'s ${say.verb} has nothing to deny: ${say.target} is ${describe(rollout.status)}, not waiting for approval.`);
  }
  // the role first: someone without it learns that, whatever state the rollout is in
  if (!holds(ruleNeeds)) return say.missingRole(ruleNeeds);
  if (!ENGINE_STATES[verb].includes(rollout.status)) {
    const done = { cancel: 'cancelled', retry: 'retried', rollback: 'rolled back' }[verb];
    const which = ENGINE_STATES[verb].map(describe).join(', ').replace(/, ([^,]*)$/, ' or $1');
    return say.notApplicable(`${say.target} is ${describe(rollout.status)}, so it cannot be ${done}: only a ${which} rollout can be ${done}.`);
  }
  if (verb === 'rollback' && !req.canRollBack) return say.notApplicable(`${say.target} cannot be rolled back by rollgate: its workflow has no rollback or undo steps.`);
  return allowed('engine');
}

function approveHeld(req: ActRequest, say: Words): ActVerdict {
  const { rule, actor } = req;
  if (!rule) return say.missingRole([]);
  const grants = actor.roles.map((role) => ({ role }));
  const verdicts = rule.approval.map((g) => groupCounts(g, actor.relation, grants));
  if (verdicts.some((v) => v.counts) || breakGlassGrants(rule, actor.relation, grants).length > 0) return allowed('held');
  // being the author rules them out whatever roles they hold: say that, not which role to get
  const onlySelf = actor.relation !== 'other' && verdicts.every((v) => !v.counts && v.why === 'self-approval');
  if (onlySelf) return say.selfApproval(`${actor.display} ${RELATION_WORDS[actor.relation]} the change (no self-approval)`);
  // the roles that would make it count for this person: a group's (where authors count, if they are one) or break-glass
  const useful = actor.relation === 'other' ? ruleRoles(rule) : rule.approval.filter((g) => !g.forbid_self_approval).flatMap((g) => g.roles);
  return say.missingRole([...new Set(useful)]);
}

function approveAtGate(req: ActRequest, say: Words): ActVerdict {
  const { actor } = req;
  if (actor.relation !== 'other' && !gateAllowsSelfApproval(req.rule)) {
    return {
      allowed: false,
      refusal: 'forbidden',
      reason: 'self-approval',
      message: `${actor.display}'s ${say.verb} does not count: ${actor.display} ${RELATION_WORDS[actor.relation]} the change, and an approval gate needs someone else (no self-approval).`,
    };
  }
  const gates = req.waitingGates.filter((g) => g.roles.some((r) => actor.roles.includes(r)));
  if (gates.length > 0) return { allowed: true, at: 'gate', gates: gates.map((g) => g.stepId) };
  const held = actor.roles.length > 0 ? actor.roles.join(', ') : 'none';
  const needs = req.waitingGates.map((g) => `step ${g.stepId} needs one of the roles ${g.roles.join(', ')}; ${actor.display} holds ${held}`);
  const roles = [...new Set(req.waitingGates.flatMap((g) => g.roles))];
  return {
    allowed: false,
    refusal: 'forbidden',
    reason: 'missing-role',
    message: `${actor.display}'s approval does not count for ${say.target}: ${needs.join('; ')}.${whoHolds(roles, req.roleSources)}`,
  };
}

const allowed = (at: 'held' | 'gate' | 'engine'): ActVerdict => ({ allowed: true, at, gates: [] });

interface Words {
  /** `/rollout approve` for a comment, `approve` for the API. */
  readonly verb: string;
  /** `rollout #7 (payments-api-prod)`, or the rule alone without a rollout row. */
  readonly target: string;
  missingRole(roles: readonly string[]): ActVerdict;
  selfApproval(why: string): ActVerdict;
  notApplicable(message: string): ActVerdict;
}

function words(req: ActRequest): Words {
  const verb = req.source === 'comment' ? `/rollout ${req.verb}` : req.verb;
  const target = req.rollout.id === undefined ? req.rollout.rule : `rollout #${req.rollout.id} (${req.rollout.rule})`;
  const who = req.actor.display;
  return {
    verb,
    target,
    missingRole: (roles) => ({
      allowed: false,
      refusal: 'forbidden',
      reason: 'missing-role',
      message: `${who} may not ${verb} ${target}: that needs role ${roles.length > 0 ? roles.join(' or ') : '(none configured)'}; nothing was changed.${whoHolds(roles, req.roleSources)}`,
    }),
    selfApproval: (why) => ({ allowed: false, refusal: 'forbidden', reason: 'self-approval', message: `${who} may not ${verb} ${target}: ${why}; nothing was changed.` }),
    notApplicable: (message) => ({ allowed: false, refusal: 'not-applicable', reason: 'state', message }),
  };
}

/** " Role sre is given by Gerrit group `sre`.": where to find the people who can act; empty without the role map. */
export function whoHolds(roles: readonly string[], sources: RoleSources | undefined): string {
  if (!sources) return '';
  const quote = (names: readonly string[]) => names.map((n) => `\`${n}\``).join(' or ');
  const sentences = roles.map((role) => {
    const gerrit = sources.gerrit[role] ?? [];
    const idp = sources.idp[role] ?? [];
    const from = [
      gerrit.length > 0 ? `Gerrit group${gerrit.length > 1 ? 's' : ''} ${quote(gerrit)}` : '',
      // IdP groups count for operators logged in to rollgate, not for comments or votes in Gerrit
      idp.length > 0 ? `IdP group${idp.length > 1 ? 's' : ''} ${quote(idp)} (on rollgate's web page or API)` : '',
    ].filter((p) => p !== '');
    return from.length > 0 ? ` Role ${role} is given by ${from.join(' or ')}.` : ` No group gives role ${role}.`;
  });
  return sentences.join('');
}

function describe(status: RolloutStatus): string {
  return status.replace('_', ' ');
}
