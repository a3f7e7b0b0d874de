import { describe, expect, it } from 'vitest';
import { decide, type CommentApproval, type DecisionInput } from '../../src/policy/decide.js';
import { RolloutRuleSchema, type RolloutRule } from '../../src/policy/policy-config.js';
import type { RoleGrant } from '../../src/policy/roles.js';
import type { GerritAccount } from '../../src/gerrit/gerrit-client.js';

const account = (accountId: number, username: string): GerritAccount => ({ accountId, username });
const owner = account(1, 'bob');
const uploader = account(2, 'dana');
const alice = account(10, 'alice');
const erin = account(11, 'erin');
const carol = account(12, 'carol');
const sam = account(13, 'sam');
const rita = account(14, 'rita');

/** A weekday afternoon and a Saturday, UTC. */
const TUESDAY = new Date('2026-11-24T14:00:00Z');
const SATURDAY = new Date('2026-11-28T14:00:00Z');

const rule = (patch: Record<string, unknown> = {}): RolloutRule =>
  RolloutRuleSchema.parse({
    name: 'api-prod',
    match: { project: 'payments/api', branch: 'main' },
    workflow: 'deploy',
    environment: 'production',
    approval: { roles: ['prod-deployer'] },
    ...patch,
  });

const grant = (role: string, via: string): RoleGrant => ({ role, via });
const roles = new Map<number, readonly RoleGrant[]>([
  [alice.accountId, [grant('prod-deployer', 'sre')]],
  [erin.accountId, [grant('prod-deployer', 'sre'), grant('release-manager', 'release-managers')]],
  [carol.accountId, []],
  [owner.accountId, [grant('prod-deployer', 'sre')]],
  [uploader.accountId, [grant('prod-deployer', 'sre')]],
  [sam.accountId, [grant('prod-deployer', 'sre'), grant('security', 'security-team')]],
  [rita.accountId, [grant('release-manager', 'release-managers')]],
]);

type Votes = Array<[GerritAccount, number]>;
const input = (r: RolloutRule, votes: Votes, opts: { justification?: string; label?: string; at?: Date; comments?: CommentApproval[] } = {}): DecisionInput => ({
  rule: r,
  change: { owner, uploader, votes: { [opts.label ?? 'Code-Review']: votes.map(([a, value]) => ({ account: a, value })) } },
  rolesByAccount: roles,
  justification: opts.justification,
  commentApprovals: opts.comments ?? [],
  at: opts.at ?? TUESDAY,
});

const twoGroups = rule({ approval: [{ roles: ['prod-deployer'] }, { roles: ['security'] }] });
const frozen = rule({ windows: { deny: [{ cron: '* * * * 6,0', tz: 'UTC', reason: 'weekend freeze' }] }, break_glass: { roles: ['release-manager'] } });
const officeHours = rule({ windows: { allow: [{ cron: '* 9-17 * * 1-5', tz: 'Europe/Berlin', reason: 'office hours' }] } });

describe('decide', () => {
  const cases: Array<{ name: string; input: DecisionInput; outcome: string; approvers: string[]; reasons: string[] }> = [
    { name: 'one role holder at +2 is enough', input: input(rule(), [[alice, 2]]), outcome: 'allow', approvers: ['alice'], reasons: ['approved'] },
    { name: 'no votes at all holds', input: input(rule(), []), outcome: 'hold', approvers: [], reasons: ['not-enough-approvers'] },
    { name: '+1 is below the minimum', input: input(rule(), [[alice, 1]]), outcome: 'hold', approvers: [], reasons: ['vote-too-low', 'not-enough-approvers'] },
    { name: 'the owner approving their own change does not count', input: input(rule(), [[owner, 2]]), outcome: 'hold', approvers: [], reasons: ['self-approval', 'not-enough-approvers'] },
    { name: 'the uploader does not count either', input: input(rule(), [[uploader, 2]]), outcome: 'hold', approvers: [], reasons: ['self-approval', 'not-enough-approvers'] },
    { name: 'self-approval counts when the rule allows it', input: input(rule({ approval: { roles: ['prod-deployer'], forbid_self_approval: false } }), [[owner, 2]]), outcome: 'allow', approvers: ['bob'], reasons: ['approved'] },
    { name: 'a voter without the role does not count', input: input(rule(), [[carol, 2]]), outcome: 'hold', approvers: [], reasons: ['missing-role', 'not-enough-approvers'] },
    { name: 'quorum counts distinct accounts', input: input(rule({ approval: { roles: ['prod-deployer'], min_approvers: 2 } }), [[alice, 2], [alice, 2]]), outcome: 'hold', approvers: ['alice'], reasons: ['approved', 'not-enough-approvers'] },
    { name: 'quorum of two met by two people', input: input(rule({ approval: { roles: ['prod-deployer'], min_approvers: 2 } }), [[alice, 2], [erin, 2]]), outcome: 'allow', approvers: ['alice', 'erin'], reasons: ['approved', 'approved'] },
    { name: 'votes on another label do not count', input: input(rule({ approval: { label: 'Rollout', min_value: 1, roles: ['prod-deployer'] } }), [[alice, 2]]), outcome: 'hold', approvers: [], reasons: ['not-enough-approvers'] },
    { name: 'a custom label and minimum', input: input(rule({ approval: { label: 'Rollout', min_value: 1, roles: ['prod-deployer'] } }), [[alice, 1]], { label: 'Rollout' }), outcome: 'allow', approvers: ['alice'], reasons: ['approved'] },
    { name: 'a role holder voting -2 vetoes', input: input(rule(), [[alice, 2], [erin, -2]]), outcome: 'deny', approvers: ['alice'], reasons: ['vetoed', 'approved'] },
    { name: '-2 from someone without the role is no veto', input: input(rule(), [[alice, 2], [carol, -2]]), outcome: 'allow', approvers: ['alice'], reasons: ['approved'] },
    { name: 'required justification missing holds', input: input(rule({ justification: 'required' }), [[alice, 2]]), outcome: 'hold', approvers: ['alice'], reasons: ['approved', 'justification-missing'] },
    { name: 'required justification given allows', input: input(rule({ justification: 'required' }), [[alice, 2]], { justification: 'INC-42' }), outcome: 'allow', approvers: ['alice'], reasons: ['approved', 'justification-given'] },
    { name: 'a blank justification is no justification', input: input(rule({ justification: 'required' }), [[alice, 2]], { justification: '   ' }), outcome: 'hold', approvers: ['alice'], reasons: ['approved', 'justification-missing'] },
    { name: 'the justification of /rollout approve counts', input: input(rule({ justification: 'required' }), [], { comments: [{ account: alice, justification: 'INC-7' }] }), outcome: 'allow', approvers: ['alice'], reasons: ['approved', 'justification-given'] },
    { name: 'two groups met by two people', input: input(twoGroups, [[alice, 2], [sam, 2]]), outcome: 'allow', approvers: ['alice', 'sam'], reasons: ['approved', 'approved'] },
    { name: 'one person cannot fill two groups', input: input(twoGroups, [[sam, 2]]), outcome: 'hold', approvers: ['sam'], reasons: ['approved', 'counted-elsewhere', 'not-enough-approvers'] },
    { name: 'the matching puts a two-role person where needed', input: input(twoGroups, [[sam, 2], [erin, 2]]), outcome: 'allow', approvers: ['erin', 'sam'], reasons: ['approved', 'approved'] },
    { name: 'a freeze holds a fully approved rollout', input: input(frozen, [[alice, 2]], { at: SATURDAY, justification: 'x' }), outcome: 'hold', approvers: ['alice'], reasons: ['approved', 'justification-given', 'window-closed'] },
    { name: 'outside a freeze it runs', input: input(frozen, [[alice, 2]], { at: TUESDAY }), outcome: 'allow', approvers: ['alice'], reasons: ['approved'] },
    { name: 'break glass by a release manager\'s /rollout approve with their why', input: input(frozen, [[alice, 2]], { at: SATURDAY, comments: [{ account: rita, justification: 'INC-9 payments down' }] }), outcome: 'allow', approvers: ['alice'], reasons: ['missing-role', 'approved', 'justification-given', 'break-glass'] },
    { name: 'a release manager\'s vote with the author\'s footer is no break glass: the why must be their own', input: input(frozen, [[alice, 2], [rita, 2]], { at: SATURDAY, justification: 'INC-9 payments down' }), outcome: 'hold', approvers: ['alice'], reasons: ['missing-role', 'approved', 'justification-given', 'window-closed'] },
    { name: 'break glass needs a justification', input: input(frozen, [[alice, 2], [rita, 2]], { at: SATURDAY }), outcome: 'hold', approvers: ['alice'], reasons: ['missing-role', 'approved', 'window-closed'] },
    { name: 'the change owner cannot break glass', input: input(frozen, [[alice, 2]], { at: SATURDAY, comments: [{ account: owner, justification: 'my own freeze override' }] }), outcome: 'hold', approvers: ['alice'], reasons: ['self-approval', 'approved', 'window-closed'] },
    { name: 'someone without a role cannot break glass', input: input(frozen, [[alice, 2]], { at: SATURDAY, justification: 'x', comments: [{ account: carol, justification: 'ship it' }] }), outcome: 'hold', approvers: ['alice'], reasons: ['missing-role', 'approved', 'justification-given', 'window-closed'] },
    // a justification is only as good as the person giving it
    { name: 'a required justification from someone without a role does not count', input: input(rule({ justification: 'required' }), [[alice, 2]], { comments: [{ account: carol, justification: 'trust me' }] }), outcome: 'hold', approvers: ['alice'], reasons: ['missing-role', 'approved', 'justification-missing'] },
    { name: 'a required justification from the change owner does not count (no self-approval)', input: input(rule({ justification: 'required' }), [[alice, 2]], { comments: [{ account: owner, justification: 'trust me' }] }), outcome: 'hold', approvers: ['alice'], reasons: ['self-approval', 'approved', 'justification-missing'] },
    { name: 'the uploader cannot justify either', input: input(rule({ justification: 'required' }), [[alice, 2]], { comments: [{ account: uploader, justification: 'trust me' }] }), outcome: 'hold', approvers: ['alice'], reasons: ['self-approval', 'approved', 'justification-missing'] },
    { name: 'the owner justifies when the rule allows self-approval', input: input(rule({ justification: 'required', approval: { roles: ['prod-deployer'], forbid_self_approval: false } }), [[alice, 2]], { comments: [{ account: owner, justification: 'INC-5' }] }), outcome: 'allow', approvers: ['alice', 'bob'], reasons: ['approved', 'approved', 'justification-given'] },
    { name: 'a break-glass role holder who is not the author may justify', input: input(rule({ justification: 'required', break_glass: { roles: ['release-manager'] } }), [[alice, 2]], { comments: [{ account: rita, justification: 'INC-3' }] }), outcome: 'allow', approvers: ['alice'], reasons: ['missing-role', 'approved', 'justification-given'] },
    { name: 'break glass by comment from someone who also approves', input: input(frozen, [[alice, 2]], { at: SATURDAY, comments: [{ account: erin, justification: 'hotfix' }] }), outcome: 'allow', approvers: ['alice', 'erin'], reasons: ['approved', 'approved', 'justification-given', 'break-glass'] },
    { name: 'outside the allowed windows holds', input: input(officeHours, [[alice, 2]], { at: new Date('2026-11-24T20:00:00Z') }), outcome: 'hold', approvers: ['alice'], reasons: ['approved', 'window-closed'] },
    { name: 'inside the allowed window (Berlin time) runs', input: input(officeHours, [[alice, 2]], { at: new Date('2026-11-24T08:30:00Z') }), outcome: 'allow', approvers: ['alice'], reasons: ['approved'] },
  ];

  it.each(cases)('$name', ({ input: i, outcome, approvers, reasons }) => {
    const result = decide(i);
    expect(result.outcome).toBe(outcome);
    expect(result.approvers.map((a) => a.display).sort()).toEqual(approvers);
    expect(result.reasons.map((r) => r.code)).toEqual(reasons);
  });

  it('says who is missing and how to give the approval', () => {
    const result = decide(input(rule({ approval: { roles: ['prod-deployer'], min_approvers: 2 } }), [[alice, 2], [carol, 2]]));
    expect(result.reasons.map((r) => r.message)).toEqual([
      "carol's Code-Review +2 does not count: carol holds no role; needs one of prod-deployer",
      'alice (prod-deployer via sre) approved with Code-Review +2',
      'rule api-prod needs 2 approvers with Code-Review +2 and role prod-deployer, not the change owner or uploader; 1 found, 1 missing. ' +
        'A person with role prod-deployer can vote Code-Review +2 or comment "/rollout approve <justification>" on this change.',
    ]);
  });

  it('explains a freeze and who may break glass', () => {
    const held = decide(input(frozen, [[alice, 2]], { at: SATURDAY }));
    expect(held.reasons.at(-1)!.message).toBe(
      'rule api-prod is in a closed window now: weekend freeze. A person with role release-manager can override it with "/rollout approve <justification>"; otherwise comment "/rollout approve <justification>" once the window opens (it opens Mon 2026-11-30 00:00 UTC).',
    );
    const broken = decide(input(frozen, [[alice, 2]], { at: SATURDAY, justification: 'INC-9 from the footer', comments: [{ account: rita, justification: 'release management agrees' }] }));
    expect(broken.reasons.at(-1)!.message).toBe('closed window overridden (break glass): weekend freeze; by rita (release-manager via release-managers), because: release management agrees');
  });

  it('takes a comment justification from the latest person who may give one, not from anyone', () => {
    const result = decide(input(rule({ justification: 'required' }), [[alice, 2]], { comments: [{ account: erin, justification: 'INC-1' }, { account: carol, justification: 'trust me' }] }));
    expect([result.outcome, result.justification]).toEqual(['allow', 'INC-1']);
    expect(result.reasons.map((r) => r.message)).toContain('justification: INC-1');
  });

  it('names the groups that give the needed roles, when it knows them', () => {
    const roleSources = { gerrit: { 'prod-deployer': ['sre', 'payments-oncall'], 'release-manager': ['release-managers'] }, idp: { 'prod-deployer': ['ops-admins'] } };
    const held = decide({ ...input(rule(), []), roleSources });
    expect(held.reasons.at(-1)!.message).toBe(
      'rule api-prod needs 1 approver with Code-Review +2 and role prod-deployer, not the change owner or uploader; 0 found, 1 missing. ' +
        'A person with role prod-deployer can vote Code-Review +2 or comment "/rollout approve <justification>" on this change. ' +
        "Role prod-deployer is given by Gerrit groups `sre` or `payments-oncall` or IdP group `ops-admins` (on rollgate's web page or API).",
    );
    const frozenHold = decide({ ...input(frozen, [[alice, 2]], { at: SATURDAY }), roleSources });
    expect(frozenHold.reasons.at(-1)!.message).toMatch(/once the window opens \(it opens Mon 2026-11-30 00:00 UTC\)\. Role release-manager is given by Gerrit group `release-managers`\.$/);
  });

  it('says when one person already counts for another group', () => {
    const result = decide(input(twoGroups, [[sam, 2]]));
    expect(result.reasons.map((r) => r.message)).toContain(
      'approval group 2 of rule api-prod needs 1 approver with Code-Review +2 and role security, not the change owner or uploader; 0 found, 1 missing. A person with role security can vote Code-Review +2 or comment "/rollout approve <justification>" on this change.',
    );
  });

  it('says how an approval after the merge was given: a comment or the rollgate API', () => {
    const result = decide(input(rule({ approval: { roles: ['prod-deployer'], min_approvers: 2 } }), [], { comments: [{ account: alice, justification: 'a' }, { account: erin, justification: 'b', source: 'api' }] }));
    expect(Object.fromEntries(result.approvers.map((a) => [a.display, a.via]))).toEqual({ alice: '/rollout approve', erin: 'the rollgate API' });
    expect(result.reasons.map((r) => r.message)).toContain('erin (prod-deployer via sre) approved with the rollgate API');
  });

  it('names the rule roles an approver holds and the groups that give them', () => {
    const a = decide(input(rule(), [[erin, 2]])).approvers[0]!;
    expect([a.roles, a.groups]).toEqual([['prod-deployer'], ['sre']]);
  });
});
