import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, type DecisionInput } from '../../src/policy/decide.js';
import { RolloutRuleSchema } from '../../src/policy/policy-config.js';
import type { RoleGrant } from '../../src/policy/roles.js';
import type { GerritAccount } from '../../src/gerrit/gerrit-client.js';

/**
 * Whatever people vote, whichever groups they are in and whatever they comment, a decision may
 * only be `allow` when the rule's approvals are really there: no self-approval, no vote without
 * the role, no vote on another label or below the minimum, and no closed window without a
 * justified break-glass approval.
 */
const ROLES = ['prod-deployer', 'security', 'release-manager', 'developer'] as const;
const people: GerritAccount[] = Array.from({ length: 6 }, (_, i) => ({ accountId: 100 + i, username: `user${i}` }));
const OWNER = people[0]!;
const UPLOADER = people[1]!;

const person = fc.constantFrom(...people);
const grants = fc.array(fc.constantFrom(...ROLES), { maxLength: 3 }).map((rs) => [...new Set(rs)].map((role): RoleGrant => ({ role, via: `${role}-group` })));
const ruleArb = fc.record({
  groups: fc.array(fc.record({ roles: fc.subarray([...ROLES.slice(0, 3)], { minLength: 1 }), min_approvers: fc.integer({ min: 1, max: 2 }), min_value: fc.integer({ min: 1, max: 2 }), label: fc.constantFrom('Code-Review', 'Rollout') }), { minLength: 1, maxLength: 2 }),
  frozen: fc.boolean(),
  justification: fc.constantFrom('required', 'optional'),
});
const scenario = fc.record({
  rule: ruleArb,
  roles: fc.array(grants, { minLength: people.length, maxLength: people.length }),
  votes: fc.array(fc.record({ who: person, label: fc.constantFrom('Code-Review', 'Rollout', 'Verified'), value: fc.integer({ min: -2, max: 2 }) }), { maxLength: 8 }),
  comments: fc.array(fc.record({ who: person, text: fc.constantFrom('', 'INC-1') }), { maxLength: 3 }),
  footer: fc.option(fc.constantFrom('INC-2', ' '), { nil: undefined }),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function build(s: Scenario): DecisionInput {
  const rule = RolloutRuleSchema.parse({
    name: 'r',
    match: { project: 'p', branch: 'main' },
    workflow: 'w',
    environment: 'e',
    approval: s.rule.groups,
    justification: s.rule.justification,
    ...(s.rule.frozen ? { windows: { deny: [{ cron: '* * * * *', reason: 'freeze' }] }, break_glass: { roles: ['release-manager'] } } : {}),
  });
  const votes: Record<string, Array<{ account: GerritAccount; value: number }>> = {};
  for (const v of s.votes) (votes[v.label] ??= []).push({ account: v.who, value: v.value });
  return {
    rule,
    change: { owner: OWNER, uploader: UPLOADER, votes },
    rolesByAccount: new Map(people.map((p, i) => [p.accountId, s.roles[i]!])),
    justification: s.footer,
    // each text names its author, so a justification in the result says whose it was
    commentApprovals: s.comments.map((c) => ({ account: c.who, justification: c.text === '' ? '' : `${c.text} from ${c.who.username}` })),
    at: new Date('2026-11-24T12:00:00Z'),
  };
}

describe('decide (properties)', () => {
  it('never allows without enough distinct, eligible approvers for every group, each counted once', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const input = build(s);
        const result = decide(input);
        if (result.outcome !== 'allow') return;
        const roleOf = (id: number) => input.rolesByAccount.get(id)!.map((g) => g.role);
        // every approver is eligible: not the owner or uploader where forbidden, holds a wanted role, voted high enough or commented
        const ids = result.approvers.map((a) => a.accountId);
        expect(new Set(ids).size).toBe(ids.length);
        for (const [i, g] of input.rule.approval.entries()) {
          const qualified = (id: number) =>
            !(g.forbid_self_approval && (id === OWNER.accountId || id === UPLOADER.accountId)) &&
            roleOf(id).some((r) => g.roles.includes(r)) &&
            ((input.change.votes[g.label] ?? []).some((v) => v.account.accountId === id && v.value >= g.min_value) || (input.commentApprovals ?? []).some((c) => c.account.accountId === id));
          // enough qualified people exist for this group even after the other groups took theirs
          expect(people.filter((p) => qualified(p.accountId)).length, `group ${i}`).toBeGreaterThanOrEqual(g.min_approvers);
        }
        const totalSeats = input.rule.approval.reduce((n, g) => n + g.min_approvers, 0);
        expect(ids.length).toBeGreaterThanOrEqual(totalSeats);
        for (const a of result.approvers) {
          expect(a.accountId === OWNER.accountId && input.rule.approval.every((g) => g.forbid_self_approval)).toBe(false);
          expect(a.roles.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('never allows in a closed window without a justified approval from a break-glass role holder who is not the author', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const input = build({ ...s, rule: { ...s.rule, frozen: true } });
        const result = decide(input);
        if (result.outcome !== 'allow') return;
        expect(result.justification).toBeDefined();
        const breakers = people.filter(
          (p) =>
            p !== OWNER &&
            p !== UPLOADER &&
            input.rolesByAccount.get(p.accountId)!.some((g) => g.role === 'release-manager') &&
            (Object.values(input.change.votes).some((vs) => vs.some((v) => v.account === p && v.value > 0)) || (input.commentApprovals ?? []).some((c) => c.account === p)),
        );
        expect(breakers.length).toBeGreaterThan(0);
        expect(result.reasons.some((r) => r.code === 'break-glass')).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('allow ⇒ the justification comes from the footer or from an eligible non-author approver or break-glass holder', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const input = build(s);
        const result = decide(input);
        if (result.outcome !== 'allow') return;
        if (input.rule.justification === 'required') expect(result.justification).toBeDefined();
        if (result.justification === undefined || result.justification === input.justification?.trim()) return;
        const isSelf = (id: number) => id === OWNER.accountId || id === UPLOADER.accountId;
        const roleOf = (id: number) => input.rolesByAccount.get(id)!.map((g) => g.role);
        const author = (input.commentApprovals ?? []).find((c) => c.justification.trim() === result.justification)!.account;
        const eligible = input.rule.approval.some((g) => !(g.forbid_self_approval && isSelf(author.accountId)) && roleOf(author.accountId).some((r) => g.roles.includes(r)));
        const breaksGlass = !isSelf(author.accountId) && roleOf(author.accountId).some((r) => (input.rule.break_glass?.roles ?? []).includes(r));
        expect(eligible || breaksGlass, `${author.username} gave "${result.justification}"`).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('a broken glass is explained with the break-glass holder\'s own words', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const input = build({ ...s, rule: { ...s.rule, frozen: true } });
        const override = decide(input).reasons.find((r) => r.code === 'break-glass');
        if (!override) return;
        const m = /; by (\S+) \(.*\), because: (.*)$/.exec(override.message)!;
        const own = (input.commentApprovals ?? []).filter((c) => c.account.username === m[1]).map((c) => c.justification);
        expect(own).toContain(m[2]);
        expect(m[2]).not.toBe(input.justification);
      }),
      { numRuns: 2000 },
    );
  });

  it('never allows when a role holder vetoed', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const input = build(s);
        const vetoed = input.rule.approval.some((g) =>
          (input.change.votes[g.label] ?? []).some((v) => v.value <= -g.min_value && input.rolesByAccount.get(v.account.accountId)!.some((x) => g.roles.includes(x.role))),
        );
        if (vetoed) expect(decide(input).outcome).toBe('deny');
      }),
      { numRuns: 3000 },
    );
  });
});
