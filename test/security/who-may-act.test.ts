import { describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/db/schema.js';
import { decide } from '../../src/policy/decide.js';
import { RolloutRuleSchema, type RolloutRule } from '../../src/policy/policy-config.js';
import { whoMayAct, type ActRequest, type ActVerdict, type ChangeRelation, type RolloutVerb } from '../../src/policy/who-may-act.js';

/**
 * Who may act on a rollout, over every rule field that bears on it (approval groups' roles,
 * forbid_self_approval true/false, break_glass roles, a gate's roles, a rule gone from the policy),
 * every relation a person has to the change (owner, uploader, other, unknown) with every kind of
 * role (an approval role, a break-glass role, a gate role, a second group's role, none, a role from
 * an IdP group through the API), every verb, and the rollout states where each applies. The
 * expectations are written out, not computed, so a change to the rules shows up here as a diff.
 */

const rule = (name: string, approval: unknown, breakGlass?: readonly string[]): RolloutRule =>
  RolloutRuleSchema.parse({ name, match: { project: 'p', branch: 'main' }, workflow: 'deploy', environment: 'production', approval, justification: 'required', ...(breakGlass ? { break_glass: { roles: breakGlass } } : {}) });

const RULES: Readonly<Record<string, RolloutRule | undefined>> = {
  // one group that forbids self-approval, and a break-glass role
  strict: rule('strict', { roles: ['approver'], forbid_self_approval: true }, ['glass']),
  // the same, letting authors approve
  lenient: rule('lenient', { roles: ['approver'], forbid_self_approval: false }, ['glass']),
  // two groups, the second letting authors approve; no break glass
  mixed: rule('mixed', [{ roles: ['approver'], forbid_self_approval: true }, { roles: ['second'], forbid_self_approval: false }]),
  // the rollout's rule left the policy
  gone: undefined,
};
type RuleName = keyof typeof RULES;

interface Person {
  readonly relation: ChangeRelation;
  readonly roles: readonly string[];
}
const ACTORS: Readonly<Record<string, Person>> = {
  'owner with approver': { relation: 'owns', roles: ['approver'] },
  'uploader with approver': { relation: 'uploaded', roles: ['approver'] },
  'other with approver': { relation: 'other', roles: ['approver'] },
  'owner with glass': { relation: 'owns', roles: ['glass'] },
  'other with glass': { relation: 'other', roles: ['glass'] },
  'other with gate role': { relation: 'other', roles: ['gatekeeper'] },
  'owner with gate role': { relation: 'owns', roles: ['gatekeeper'] },
  'owner with second': { relation: 'owns', roles: ['second'] },
  'other with second': { relation: 'other', roles: ['second'] },
  'other with no role': { relation: 'other', roles: [] },
  'unknown with approver': { relation: 'unknown', roles: ['approver'] },
};
type ActorName = keyof typeof ACTORS;

const GATE = { stepId: 'promote', roles: ['gatekeeper'] };
const SOURCES = { gerrit: { approver: ['sre'], glass: ['release-managers'], gatekeeper: ['qa'], second: ['leads'] }, idp: { approver: ['ops-oncall'] } };

/** ok: allowed; self: refused as self-approval; role: refused for a missing role; state: not in this state. */
type Expect = 'ok' | 'self' | 'role' | 'state';
const code = (v: ActVerdict): Expect => (v.allowed ? 'ok' : v.reason === 'self-approval' ? 'self' : v.reason === 'missing-role' ? 'role' : 'state');

function ask(o: { verb: RolloutVerb; rule: RuleName; actor: Person; status: RolloutStatus; gate?: boolean; canRollBack?: boolean; source?: 'comment' | 'api' }): ActVerdict {
  const request: ActRequest = {
    verb: o.verb,
    source: o.source ?? 'comment',
    rollout: { id: 7, rule: String(o.rule), status: o.status },
    rule: RULES[o.rule],
    waitingGates: o.gate ? [GATE] : [],
    canRollBack: o.canRollBack ?? true,
    actor: { display: 'pat', relation: o.actor.relation, roles: o.actor.roles },
    roleSources: SOURCES,
  };
  return whoMayAct(request);
}

/** [approve, deny] on a held rollout, per rule and person. */
const HELD: Readonly<Record<RuleName, Readonly<Record<ActorName, readonly [Expect, Expect]>>>> = {
  strict: {
    'owner with approver': ['self', 'ok'],
    'uploader with approver': ['self', 'ok'],
    'other with approver': ['ok', 'ok'],
    'owner with glass': ['self', 'ok'], // breaking glass is never on one's own change
    'other with glass': ['ok', 'ok'],
    'other with gate role': ['role', 'role'],
    'owner with gate role': ['self', 'role'],
    'owner with second': ['self', 'role'],
    'other with second': ['role', 'role'],
    'other with no role': ['role', 'role'],
    'unknown with approver': ['self', 'ok'], // not knowing is the author's side
  },
  lenient: {
    'owner with approver': ['ok', 'ok'],
    'uploader with approver': ['ok', 'ok'],
    'other with approver': ['ok', 'ok'],
    'owner with glass': ['role', 'ok'], // authors may approve here, but glass is not an approval role
    'other with glass': ['ok', 'ok'],
    'other with gate role': ['role', 'role'],
    'owner with gate role': ['role', 'role'],
    'owner with second': ['role', 'role'],
    'other with second': ['role', 'role'],
    'other with no role': ['role', 'role'],
    'unknown with approver': ['ok', 'ok'],
  },
  mixed: {
    'owner with approver': ['role', 'ok'], // the first group forbids it; the second would take them with its role
    'uploader with approver': ['role', 'ok'],
    'other with approver': ['ok', 'ok'],
    'owner with glass': ['role', 'role'],
    'other with glass': ['role', 'role'],
    'other with gate role': ['role', 'role'],
    'owner with gate role': ['role', 'role'],
    'owner with second': ['ok', 'ok'],
    'other with second': ['ok', 'ok'],
    'other with no role': ['role', 'role'],
    'unknown with approver': ['role', 'ok'],
  },
  gone: Object.fromEntries(Object.keys(ACTORS).map((a) => [a, ['role', 'role']])) as Record<ActorName, readonly [Expect, Expect]>,
};

/** [approve, deny, cancel] on a rollout waiting at an approval gate whose role is `gatekeeper`. */
const AT_GATE: Readonly<Record<RuleName, Readonly<Record<ActorName, readonly [Expect, Expect, Expect]>>>> = {
  strict: {
    'owner with approver': ['self', 'ok', 'ok'],
    'uploader with approver': ['self', 'ok', 'ok'],
    'other with approver': ['role', 'ok', 'ok'],
    'owner with glass': ['self', 'ok', 'ok'],
    'other with glass': ['role', 'ok', 'ok'],
    'other with gate role': ['ok', 'ok', 'role'],
    'owner with gate role': ['self', 'ok', 'role'],
    'owner with second': ['self', 'role', 'role'],
    'other with second': ['role', 'role', 'role'],
    'other with no role': ['role', 'role', 'role'],
    'unknown with approver': ['self', 'ok', 'ok'],
  },
  lenient: {
    'owner with approver': ['role', 'ok', 'ok'],
    'uploader with approver': ['role', 'ok', 'ok'],
    'other with approver': ['role', 'ok', 'ok'],
    'owner with glass': ['role', 'ok', 'ok'],
    'other with glass': ['role', 'ok', 'ok'],
    'other with gate role': ['ok', 'ok', 'role'],
    'owner with gate role': ['ok', 'ok', 'role'], // every group lets authors approve, so the gate does too
    'owner with second': ['role', 'role', 'role'],
    'other with second': ['role', 'role', 'role'],
    'other with no role': ['role', 'role', 'role'],
    'unknown with approver': ['role', 'ok', 'ok'],
  },
  mixed: {
    'owner with approver': ['self', 'ok', 'ok'],
    'uploader with approver': ['self', 'ok', 'ok'],
    'other with approver': ['role', 'ok', 'ok'],
    'owner with glass': ['self', 'role', 'role'],
    'other with glass': ['role', 'role', 'role'],
    'other with gate role': ['ok', 'ok', 'role'],
    'owner with gate role': ['self', 'ok', 'role'], // one group forbids self-approval: so does the gate
    'owner with second': ['self', 'ok', 'ok'],
    'other with second': ['role', 'ok', 'ok'],
    'other with no role': ['role', 'role', 'role'],
    'unknown with approver': ['self', 'ok', 'ok'],
  },
  gone: {
    'owner with approver': ['self', 'role', 'role'],
    'uploader with approver': ['self', 'role', 'role'],
    'other with approver': ['role', 'role', 'role'],
    'owner with glass': ['self', 'role', 'role'],
    'other with glass': ['role', 'role', 'role'],
    'other with gate role': ['ok', 'ok', 'role'],
    'owner with gate role': ['self', 'ok', 'role'],
    'owner with second': ['self', 'role', 'role'],
    'other with second': ['role', 'role', 'role'],
    'other with no role': ['role', 'role', 'role'],
    'unknown with approver': ['self', 'role', 'role'],
  },
};

const RULE_NAMES = Object.keys(RULES) as RuleName[];
const ACTOR_NAMES = Object.keys(ACTORS) as ActorName[];
const cross = <A, B>(as: readonly A[], bs: readonly B[]) => as.flatMap((a) => bs.map((b) => [a, b] as const));

describe('whoMayAct', () => {
  describe.each(RULE_NAMES)('rule %s', (ruleName) => {
    it.each(ACTOR_NAMES)('held, %s: approve and deny', (actorName) => {
      const actor = ACTORS[actorName]!;
      const got = (['approve', 'deny'] as const).map((verb) => code(ask({ verb, rule: ruleName, actor, status: 'held' })));
      expect(got).toEqual(HELD[ruleName]![actorName]);
      // nothing else applies to a held rollout, whoever asks (the role comes first for a stranger)
      for (const verb of ['retry', 'rollback'] as const) expect(['state', 'role']).toContain(code(ask({ verb, rule: ruleName, actor, status: 'held' })));
    });

    it.each(cross(ACTOR_NAMES, ['waiting', 'running'] as const))('at a gate, %s, rollout %s: approve, deny and cancel', (actorName, status) => {
      const actor = ACTORS[actorName]!;
      const got = (['approve', 'deny', 'cancel'] as const).map((verb) => code(ask({ verb, rule: ruleName, actor, status, gate: true })));
      expect(got).toEqual(AT_GATE[ruleName]![actorName]);
    });
  });

  // the rollout's state decides what applies; for someone with the rule's role (other with approver, rule strict)
  it.each([
    ['held', false, { approve: 'ok', deny: 'ok', cancel: 'state', retry: 'state', rollback: 'state' }],
    ['queued', false, { approve: 'state', deny: 'state', cancel: 'ok', retry: 'state', rollback: 'state' }],
    ['running', false, { approve: 'state', deny: 'state', cancel: 'ok', retry: 'state', rollback: 'state' }],
    ['running', true, { approve: 'role', deny: 'ok', cancel: 'ok', retry: 'state', rollback: 'state' }],
    ['waiting', true, { approve: 'role', deny: 'ok', cancel: 'ok', retry: 'state', rollback: 'state' }],
    ['failed', false, { approve: 'state', deny: 'state', cancel: 'state', retry: 'ok', rollback: 'ok' }],
    ['rolled_back', false, { approve: 'state', deny: 'state', cancel: 'state', retry: 'ok', rollback: 'state' }],
    ['succeeded', false, { approve: 'state', deny: 'state', cancel: 'state', retry: 'state', rollback: 'ok' }],
    ['denied', false, { approve: 'state', deny: 'state', cancel: 'state', retry: 'state', rollback: 'state' }],
    ['cancelled', false, { approve: 'state', deny: 'state', cancel: 'state', retry: 'state', rollback: 'state' }],
    ['superseded', false, { approve: 'state', deny: 'state', cancel: 'state', retry: 'state', rollback: 'state' }],
  ] as const)('a rule role holder on a %s rollout (gate waiting: %s)', (status, gate, expected) => {
    const actor = ACTORS['other with approver']!;
    const got = Object.fromEntries((['approve', 'deny', 'cancel', 'retry', 'rollback'] as const).map((verb) => [verb, code(ask({ verb, rule: 'strict', actor, status, gate }))]));
    expect(got).toEqual(expected);
  });

  it('asks the role before the state: someone without it learns what they lack, whatever the state', () => {
    for (const status of ['queued', 'succeeded', 'failed', 'cancelled'] as const) {
      for (const verb of ['cancel', 'retry', 'rollback'] as const) expect(code(ask({ verb, rule: 'strict', actor: ACTORS['other with no role']!, status }))).toBe('role');
    }
  });

  it('offers no rollback when the workflow has nothing to roll back with', () => {
    expect(code(ask({ verb: 'rollback', rule: 'strict', actor: ACTORS['other with approver']!, status: 'succeeded', canRollBack: false }))).toBe('state');
  });

  it('judges a comment and an API call alike, for every rule, person, verb and state (a role from an IdP group is a role)', () => {
    const states: ReadonlyArray<readonly [RolloutStatus, boolean]> = [['held', false], ['queued', false], ['running', true], ['waiting', true], ['failed', false], ['succeeded', false], ['denied', false]];
    for (const [ruleName, actorName] of cross(RULE_NAMES, ACTOR_NAMES)) {
      for (const [status, gate] of states) {
        for (const verb of ['approve', 'deny', 'cancel', 'retry', 'rollback'] as const) {
          const actor = ACTORS[actorName]!;
          const byComment = ask({ verb, rule: ruleName, actor, status, gate, source: 'comment' });
          const byApi = ask({ verb, rule: ruleName, actor, status, gate, source: 'api' });
          expect({ ruleName, actorName, status, verb, verdict: code(byApi) }).toEqual({ ruleName, actorName, status, verb, verdict: code(byComment) });
          if (!byComment.allowed && !byApi.allowed) expect(byApi.message).toBe(byComment.message.replaceAll(`/rollout ${verb}`, verb));
        }
      }
    }
  });

  it("agrees with the decision: a held rollout's approval is taken exactly when decide() lets it count or justify", () => {
    const ids: Readonly<Record<Exclude<ChangeRelation, 'unknown'>, number>> = { owns: 1, uploaded: 2, other: 3 };
    const account = (id: number) => ({ accountId: id, username: `u${id}` });
    for (const [ruleName, actorName] of cross(RULE_NAMES, ACTOR_NAMES)) {
      const r = RULES[ruleName];
      const actor = ACTORS[actorName]!;
      if (!r || actor.relation === 'unknown') continue;
      const id = ids[actor.relation];
      const result = decide({
        rule: r,
        change: { owner: account(1), uploader: account(2), votes: {} },
        rolesByAccount: new Map([[id, actor.roles.map((role) => ({ role, via: 'g' }))]]),
        justification: undefined,
        commentApprovals: [{ account: account(id), justification: 'because' }],
        at: new Date('2026-01-05T12:00:00Z'),
      });
      const taken = result.approvers.some((a) => a.accountId === id) || result.justification === 'because';
      expect({ ruleName, actorName, allowed: ask({ verb: 'approve', rule: ruleName, actor, status: 'held' }).allowed }).toEqual({ ruleName, actorName, allowed: taken });
    }
  });

  it('says in a refusal which roles are needed and which groups give them', () => {
    expect(ask({ verb: 'approve', rule: 'strict', actor: ACTORS['other with no role']!, status: 'held', source: 'api' })).toEqual({
      allowed: false,
      refusal: 'forbidden',
      reason: 'missing-role',
      message:
        "pat may not approve rollout #7 (strict): that needs role approver or glass; nothing was changed. Role approver is given by Gerrit group `sre` or IdP group `ops-oncall` (on rollgate's web page or API). Role glass is given by Gerrit group `release-managers`.",
    });
    // an author is told only the roles that would make their own approval count
    expect(ask({ verb: 'approve', rule: 'mixed', actor: ACTORS['owner with approver']!, status: 'held' })).toMatchObject({
      message: 'pat may not /rollout approve rollout #7 (mixed): that needs role second; nothing was changed. Role second is given by Gerrit group `leads`.',
    });
    expect(ask({ verb: 'approve', rule: 'strict', actor: ACTORS['uploader with approver']!, status: 'held' })).toMatchObject({
      message: 'pat may not /rollout approve rollout #7 (strict): pat uploaded the change (no self-approval); nothing was changed.',
    });
    expect(ask({ verb: 'approve', rule: 'strict', actor: ACTORS['other with approver']!, status: 'waiting', gate: true })).toMatchObject({
      message: "pat's approval does not count for rollout #7 (strict): step promote needs one of the roles gatekeeper; pat holds approver. Role gatekeeper is given by Gerrit group `qa`.",
    });
    expect(ask({ verb: 'approve', rule: 'strict', actor: ACTORS['owner with gate role']!, status: 'waiting', gate: true, source: 'api' })).toMatchObject({
      message: "pat's approve does not count: pat owns the change, and an approval gate needs someone else (no self-approval).",
    });
    expect(ask({ verb: 'cancel', rule: 'gone', actor: ACTORS['other with approver']!, status: 'running' })).toMatchObject({
      message: 'pat may not /rollout cancel rollout #7 (gone): that needs role (none configured); nothing was changed.',
    });
  });
});
