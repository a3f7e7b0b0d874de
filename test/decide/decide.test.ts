import { describe, expect, it } from 'vitest';
import { decide, type DecisionInput } from '../../src/decide/decide.js';
import { RolloutRuleSchema, type RolloutRule } from '../../src/decide/policy-config.js';
import type { GerritAccount } from '../../src/gerrit/gerrit-client.js';

const account = (accountId: number, username: string): GerritAccount => ({ accountId, username });
const owner = account(1, 'bob');
const uploader = account(2, 'dana');
const alice = account(10, 'alice');
const erin = account(11, 'erin');
const carol = account(12, 'carol');

const rule = (approval: Partial<RolloutRule['approval']> = {}, justification: 'required' | 'optional' = 'optional'): RolloutRule =>
  RolloutRuleSchema.parse({
    name: 'api-prod',
    match: { project: 'payments/api', branch: 'main' },
    workflow: 'deploy',
    environment: 'production',
    approval: { roles: ['prod-deployer'], ...approval },
    justification,
  });

const roles = new Map<number, readonly string[]>([
  [alice.accountId, ['prod-deployer']],
  [erin.accountId, ['prod-deployer', 'release-manager']],
  [carol.accountId, []],
  [owner.accountId, ['prod-deployer']],
  [uploader.accountId, ['prod-deployer']],
]);

type Votes = Array<[GerritAccount, number]>;
const input = (r: RolloutRule, votes: Votes, justification?: string, label = 'Code-Review'): DecisionInput => ({
  rule: r,
  change: { owner, uploader, votes: { [label]: votes.map(([a, value]) => ({ account: a, value })) } },
  rolesByAccount: roles,
  justification,
});

describe('decide', () => {
  const cases: Array<{ name: string; input: DecisionInput; outcome: string; approvers: string[]; reasons: string[] }> = [
    { name: 'one role holder at +2 is enough', input: input(rule(), [[alice, 2]]), outcome: 'allow', approvers: ['alice'], reasons: ['approved'] },
    { name: 'no votes at all holds', input: input(rule(), []), outcome: 'hold', approvers: [], reasons: ['not-enough-approvers'] },
    { name: '+1 is below the minimum', input: input(rule(), [[alice, 1]]), outcome: 'hold', approvers: [], reasons: ['vote-too-low', 'not-enough-approvers'] },
    { name: 'the owner approving their own change does not count', input: input(rule(), [[owner, 2]]), outcome: 'hold', approvers: [], reasons: ['self-approval', 'not-enough-approvers'] },
    { name: 'the uploader does not count either', input: input(rule(), [[uploader, 2]]), outcome: 'hold', approvers: [], reasons: ['self-approval', 'not-enough-approvers'] },
    { name: 'self-approval counts when the rule allows it', input: input(rule({ forbid_self_approval: false }), [[owner, 2]]), outcome: 'allow', approvers: ['bob'], reasons: ['approved'] },
    { name: 'a voter without the role does not count', input: input(rule(), [[carol, 2]]), outcome: 'hold', approvers: [], reasons: ['missing-role', 'not-enough-approvers'] },
    { name: 'quorum counts distinct accounts', input: input(rule({ min_approvers: 2 }), [[alice, 2], [alice, 2]]), outcome: 'hold', approvers: ['alice'], reasons: ['approved', 'not-enough-approvers'] },
    { name: 'quorum of two met by two people', input: input(rule({ min_approvers: 2 }), [[alice, 2], [erin, 2]]), outcome: 'allow', approvers: ['alice', 'erin'], reasons: ['approved', 'approved'] },
    { name: 'votes on another label do not count', input: input(rule({ label: 'Rollout', min_value: 1 }), [[alice, 2]], undefined, 'Code-Review'), outcome: 'hold', approvers: [], reasons: ['not-enough-approvers'] },
    { name: 'a custom label and minimum', input: input(rule({ label: 'Rollout', min_value: 1 }), [[alice, 1]], undefined, 'Rollout'), outcome: 'allow', approvers: ['alice'], reasons: ['approved'] },
    { name: 'a role holder voting -2 vetoes', input: input(rule(), [[alice, 2], [erin, -2]]), outcome: 'deny', approvers: ['alice'], reasons: ['approved', 'vetoed'] },
    { name: '-2 from someone without the role is no veto', input: input(rule(), [[alice, 2], [carol, -2]]), outcome: 'allow', approvers: ['alice'], reasons: ['approved'] },
    { name: 'required justification missing holds', input: input(rule({}, 'required'), [[alice, 2]]), outcome: 'hold', approvers: ['alice'], reasons: ['approved', 'justification-missing'] },
    { name: 'required justification given allows', input: input(rule({}, 'required'), [[alice, 2]], 'INC-42'), outcome: 'allow', approvers: ['alice'], reasons: ['approved', 'justification-given'] },
    { name: 'a blank justification is no justification', input: input(rule({}, 'required'), [[alice, 2]], '   '), outcome: 'hold', approvers: ['alice'], reasons: ['approved', 'justification-missing'] },
  ];

  it.each(cases)('$name', ({ input: i, outcome, approvers, reasons }) => {
    const result = decide(i);
    expect(result.outcome).toBe(outcome);
    expect(result.approvers.map((a) => a.display)).toEqual(approvers);
    expect(result.reasons.map((r) => r.code)).toEqual(reasons);
  });

  it('says who is missing and how to give the approval', () => {
    const result = decide(input(rule({ min_approvers: 2 }), [[alice, 2], [carol, 2]]));
    const missing = result.reasons.find((r) => r.code === 'not-enough-approvers')!.message;
    expect(missing).toBe(
      'rule api-prod needs 2 approvers with Code-Review +2 and role prod-deployer, not the change owner or uploader; 1 found, 1 missing. ' +
        'A person with role prod-deployer can comment "/rollout approve <justification>" on this change.',
    );
    expect(result.reasons.find((r) => r.code === 'missing-role')!.message).toBe(
      "carol's Code-Review +2 does not count: carol holds no role; needs one of prod-deployer",
    );
  });

  it('names only the rule roles an approver holds', () => {
    expect(decide(input(rule(), [[erin, 2]])).approvers[0]!.roles).toEqual(['prod-deployer']);
  });
});
