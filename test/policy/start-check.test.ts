import { describe, expect, it } from 'vitest';
import type { GerritAccount, GerritChange } from '../../src/gerrit/gerrit-client.js';
import { decide, type Approver, type CommentApproval } from '../../src/policy/decide.js';
import { RolloutRuleSchema, type Policy, type RolloutRule } from '../../src/policy/policy-config.js';
import type { RoleGrant } from '../../src/policy/roles.js';
import { staleGateApprovals, windowHoldsStep } from '../../src/policy/step-window.js';
import { WorkflowFileSchema } from '../../src/policy/workflow-config.js';
import { ApprovalBindingSchema, checkAtStart, freshApprovals, storedBinding, type ApprovalBinding } from '../../src/policy/start-check.js';

/**
 * The check at a rollout's start as a pure function: the decision again with the policy, groups
 * and clock of the start, and what changed since the decision in the words the change is told.
 */

const account = (accountId: number, username: string): GerritAccount => ({ accountId, username });
const bob = account(1, 'bob');
const alice = account(10, 'alice');
const erin = account(11, 'erin');
const rita = account(14, 'rita');

const TUESDAY = new Date('2026-11-24T14:00:00Z');
const SATURDAY = new Date('2026-11-28T14:00:00Z');
const DECIDED = new Date('2026-11-24T09:00:00Z');

const rule = (patch: Record<string, unknown> = {}): RolloutRule =>
  RolloutRuleSchema.parse({ name: 'api-prod', match: { project: 'payments/api', branch: 'main' }, workflow: 'deploy', environment: 'production', approval: { roles: ['prod-deployer'] }, ...patch });
const policy = (r: RolloutRule, version = 'a'.repeat(64)): Policy => ({ roles: { 'prod-deployer': ['sre'], 'release-manager': ['release-managers'] }, idpRoles: {}, auditReaders: undefined, rollouts: [r], workflows: {}, version });
const change = (votes: Array<[GerritAccount, number]>): GerritChange => ({
  project: 'payments/api',
  branch: 'main',
  number: 7,
  subject: 'x',
  status: 'MERGED',
  owner: bob,
  uploader: bob,
  currentRevision: 'c'.repeat(40),
  currentPatchSet: 1,
  commitMessage: 'x\n\nRollout-Justification: INC-7\n',
  files: [],
  votes: { 'Code-Review': votes.map(([a, value]) => ({ account: a, value })) },
});
const grant = (role: string, via: string): RoleGrant => ({ role, via });
const sre = new Map<number, readonly RoleGrant[]>([
  [alice.accountId, [grant('prod-deployer', 'sre')]],
  [erin.accountId, [grant('prod-deployer', 'sre')]],
  [rita.accountId, [grant('release-manager', 'release-managers')]],
]);
const noLongerSre = new Map<number, readonly RoleGrant[]>([[alice.accountId, []]]);
const binding = (policyVersion: string, workflowDigest = 'w'.repeat(64)): ApprovalBinding => ({ revision: 'c'.repeat(40), workflowDigest, policyVersion, digest: `${policyVersion}:${workflowDigest}`, decidedAt: DECIDED.toISOString() });

/** Who counted when the rollout was decided (as decide() said then). */
const approversAtDecision = (r: RolloutRule, votes: Array<[GerritAccount, number]>, comments: CommentApproval[] = []): readonly Approver[] =>
  decide({ rule: r, change: change(votes), rolesByAccount: sre, justification: 'INC-7', commentApprovals: comments, at: DECIDED }).approvers;

const freeze = rule({ windows: { deny: [{ cron: '* * * * 6,0', tz: 'UTC', reason: 'weekend freeze' }] }, break_glass: { roles: ['release-manager'] } });
const eightHours = rule({ approval: { roles: ['prod-deployer'], max_age: '8h' } });
const breakGlass: CommentApproval = { account: rita, justification: 'hotfix for INC-7', givenAt: DECIDED };

describe('checkAtStart', () => {
  const cases: Array<{
    name: string;
    rule: RolloutRule;
    votes: Array<[GerritAccount, number]>;
    comments?: CommentApproval[];
    roles?: ReadonlyMap<number, readonly RoleGrant[]>;
    at?: Date;
    decidedUnder?: ApprovalBinding | undefined;
    startsUnder?: ApprovalBinding | undefined;
    policyVersion?: string;
    outcome: 'allow' | 'hold' | 'deny';
    changed: string[];
    rebound?: boolean;
  }> = [
    { name: 'nothing changed: it starts, and nothing is said', rule: rule(), votes: [[alice, 2]], outcome: 'allow', changed: [] },
    { name: 'a freeze began while it was queued: held', rule: freeze, votes: [[alice, 2]], at: SATURDAY, outcome: 'hold', changed: ['the window is now closed: weekend freeze'] },
    { name: 'break glass given for the window still overrides it', rule: freeze, votes: [[alice, 2]], comments: [breakGlass], at: SATURDAY, outcome: 'allow', changed: [] },
    {
      name: 'the approver left the group: held, and says which role went',
      rule: rule(),
      votes: [[alice, 2]],
      roles: noLongerSre,
      outcome: 'hold',
      changed: ['alice no longer has prod-deployer (had it via sre when the rollout was decided)'],
    },
    {
      name: 'another approver still holding the role keeps it allowed (the loss is noted, not posted)',
      rule: rule(),
      votes: [[alice, 2], [erin, 2]],
      roles: new Map([...sre, [alice.accountId, []]]),
      outcome: 'allow',
      changed: ['alice no longer has prod-deployer (had it via sre when the rollout was decided)'],
    },
    {
      name: 'an approval older than approval.max_age no longer counts',
      rule: eightHours,
      votes: [[alice, 2]],
      at: new Date(DECIDED.getTime() + 9 * 3_600_000),
      outcome: 'hold',
      changed: ["alice's Code-Review +2 is older than approval.max_age 8h (counted since 2026-11-24T09:00:00.000Z): it no longer counts"],
    },
    { name: 'within approval.max_age it counts', rule: eightHours, votes: [[alice, 2]], at: new Date(DECIDED.getTime() + 7 * 3_600_000), outcome: 'allow', changed: [] },
    {
      name: 'another policy that still allows: re-decided and started, saying so',
      rule: rule(),
      votes: [[alice, 2]],
      decidedUnder: binding('a'.repeat(64)),
      startsUnder: binding('b'.repeat(64)),
      policyVersion: 'b'.repeat(64),
      outcome: 'allow',
      changed: ['policy changed from aaaaaaaaaaaa to bbbbbbbbbbbb'],
      rebound: true,
    },
    {
      name: 'another policy that asks for more: held, saying the policy changed',
      rule: rule({ approval: { roles: ['prod-deployer'], min_approvers: 2 } }),
      votes: [[alice, 2]],
      decidedUnder: binding('a'.repeat(64)),
      startsUnder: binding('b'.repeat(64)),
      policyVersion: 'b'.repeat(64),
      outcome: 'hold',
      changed: ['policy changed from aaaaaaaaaaaa to bbbbbbbbbbbb'],
      rebound: true,
    },
    {
      name: 'another workflow definition: re-decided',
      rule: rule(),
      votes: [[alice, 2]],
      decidedUnder: binding('a'.repeat(64), '1'.repeat(64)),
      startsUnder: binding('a'.repeat(64), '2'.repeat(64)),
      outcome: 'allow',
      changed: ['workflow deploy changed since the decision (definition 111111111111 to 222222222222)'],
      rebound: true,
    },
    { name: 'a veto given since holds it back as deny', rule: rule(), votes: [[alice, 2], [erin, -2]], outcome: 'deny', changed: ['rule api-prod no longer allows the rollout at 2026-11-24T14:00:00.000Z'] },
  ];

  it.each(cases)('$name', (c) => {
    const at = c.at ?? TUESDAY;
    const p = policy(c.rule, c.policyVersion);
    const check = checkAtStart({
      policy: p,
      ruleName: c.rule.name,
      change: change(c.votes),
      rolesByAccount: c.roles ?? sre,
      commentApprovals: c.comments ?? [],
      votesSince: DECIDED,
      at,
      decided: { approvers: approversAtDecision(c.rule, c.votes.filter(([, v]) => v > 0), c.comments), binding: c.decidedUnder },
      binding: c.startsUnder,
    });
    expect(check.result.outcome).toBe(c.outcome);
    expect(check.changed).toEqual(c.changed);
    expect(check.rebound).toBe(c.rebound ?? false);
    // what changed is among the reasons stored with the new decision (not for a plain start)
    const said = check.result.reasons.filter((r) => r.code === 'changed-since-decision').map((r) => r.message);
    expect(said).toEqual(c.outcome === 'allow' && !c.rebound ? [] : c.changed);
  });

  it('a rule that now names another workflow is a new decision, saying which', () => {
    const check = checkAtStart({
      policy: policy(rule()),
      ruleName: 'api-prod',
      change: change([[alice, 2]]),
      rolesByAccount: sre,
      commentApprovals: [],
      votesSince: DECIDED,
      at: TUESDAY,
      decided: { approvers: approversAtDecision(rule(), [[alice, 2]]), binding: binding('a'.repeat(64), '1'.repeat(64)), workflow: 'deploy-v1' },
      binding: binding('a'.repeat(64), '2'.repeat(64)),
    });
    expect(check.result.outcome).toBe('allow');
    expect(check.rebound).toBe(true);
    expect(check.changed).toEqual(['rule api-prod now runs workflow deploy instead of deploy-v1']);
  });

  it('denies a rollout whose rule left the policy', () => {
    const check = checkAtStart({
      policy: policy(rule({ name: 'other' })),
      ruleName: 'api-prod',
      change: change([[alice, 2]]),
      rolesByAccount: sre,
      commentApprovals: [],
      votesSince: DECIDED,
      at: TUESDAY,
      decided: { approvers: [], binding: binding('a'.repeat(64)) },
      binding: undefined,
    });
    expect(check.result.outcome).toBe('deny');
    expect(check.changed).toEqual(['rule api-prod is no longer in the policy in use (aaaaaaaaaaaa)']);
  });
});

describe('freshApprovals', () => {
  it('drops expired /rollout approve comments by their own time, and never drops a veto', () => {
    const at = new Date(DECIDED.getTime() + 9 * 3_600_000);
    const late: CommentApproval = { account: erin, justification: 'ok', givenAt: new Date(at.getTime() - 3_600_000) };
    const early: CommentApproval = { account: alice, justification: 'ok', givenAt: DECIDED };
    const fresh = freshApprovals({ rule: eightHours, change: change([[alice, 2], [erin, -2]]), commentApprovals: [early, late], votesSince: DECIDED, at });
    expect(fresh.commentApprovals).toEqual([late]);
    expect(fresh.change.votes['Code-Review']).toEqual([{ account: erin, value: -2 }]);
    expect(fresh.expired.map((e) => e.accountId)).toEqual([alice.accountId, alice.accountId]);
  });

  it('keeps everything when the rule sets no max_age', () => {
    const c = change([[alice, 2]]);
    expect(freshApprovals({ rule: rule(), change: c, commentApprovals: [], votesSince: DECIDED, at: new Date('2030-01-01T00:00:00Z') }).change).toBe(c);
  });
});

describe('approval.max_age and windows_apply in the policy', () => {
  it('reads max_age as a duration and refuses a wrong one at its field', () => {
    expect(eightHours.approval[0]!.max_age).toBe('8h');
    const bad = RolloutRuleSchema.safeParse({ name: 'x', match: { project: 'p', branch: 'main' }, workflow: 'w', environment: 'e', approval: { roles: ['r'], max_age: 'eight hours' } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(['approval.0.max_age: not a duration (e.g. 30s, 10m, 2h)']);
  });

  it('windows_apply defaults to start and takes every_step', () => {
    expect(rule().windows_apply).toBe('start');
    expect(rule({ windows_apply: 'every_step' }).windows_apply).toBe('every_step');
    expect(RolloutRuleSchema.safeParse({ ...rule(), windows_apply: 'always' }).success).toBe(false);
  });

  it('a stored binding is read through its schema; anything else is no binding', () => {
    const b = binding('a'.repeat(64));
    expect(ApprovalBindingSchema.parse(b)).toEqual(b);
    expect(storedBinding(b)).toEqual(b);
    expect(storedBinding(null)).toBeUndefined();
    expect(storedBinding({ digest: 'x' })).toBeUndefined();
  });
});

describe('windowHoldsStep (windows_apply: every_step)', () => {
  const everyStep = rule({ windows_apply: 'every_step', windows: { deny: [{ cron: '* * * * 6,0', tz: 'UTC', reason: 'weekend freeze' }] } });
  const atStart = rule({ windows: { deny: [{ cron: '* * * * 6,0', tz: 'UTC', reason: 'weekend freeze' }] } });
  const workflow = WorkflowFileSchema.parse({
    name: 'deploy',
    steps: [
      { id: 'build', run: ['./build'] },
      { id: 'promote', needs: ['build'], approval: { roles: ['prod-deployer'], timeout: '1h' } },
      { id: 'soak', needs: ['promote'], wait: '10m' },
    ],
  });
  const steps = new Map(workflow.steps.map((s) => [s.id, s]));
  const cases: Array<{ name: string; r: RolloutRule; needs: string[]; at: Date; brokeGlass?: boolean; held: string | undefined }> = [
    { name: 'after a gate, in a closed window: held', r: everyStep, needs: ['promote'], at: SATURDAY, held: 'weekend freeze' },
    { name: 'after a wait, in a closed window: held', r: everyStep, needs: ['soak'], at: SATURDAY, held: 'weekend freeze' },
    { name: 'after a gate, window open: runs', r: everyStep, needs: ['promote'], at: TUESDAY, held: undefined },
    { name: 'after a run step: windows are not checked', r: everyStep, needs: ['build'], at: SATURDAY, held: undefined },
    { name: 'windows_apply: start leaves steps alone', r: atStart, needs: ['promote'], at: SATURDAY, held: undefined },
    { name: 'break glass given for the rollout overrides it', r: everyStep, needs: ['promote'], at: SATURDAY, brokeGlass: true, held: undefined },
  ];
  it.each(cases)('$name', (c) => {
    const reasons = c.brokeGlass ? [{ code: 'break-glass' as const, message: 'closed window overridden (break glass)' }] : [];
    expect(windowHoldsStep(c.r, { needs: c.needs }, steps, reasons, c.at)).toBe(c.held);
  });
});

describe('staleGateApprovals (approval.max_age on a gate)', () => {
  const workflow = WorkflowFileSchema.parse({
    name: 'deploy',
    steps: [
      { id: 'promote', approval: { roles: ['prod-deployer'], timeout: '1h', max_age: '30m' } },
      { id: 'ack', approval: { roles: ['prod-deployer'] } },
      { id: 'full', needs: ['promote', 'ack'], run: ['./deploy'] },
    ],
  });
  const steps = new Map(workflow.steps.map((s) => [s.id, s]));
  const passed = new Date('2026-11-24T10:00:00Z');
  const cases: Array<{ name: string; at: Date; passedAt: Date | null; stale: string[] }> = [
    { name: 'passed 20 minutes ago: still counts', at: new Date('2026-11-24T10:20:00Z'), passedAt: passed, stale: [] },
    { name: 'passed 40 minutes ago: asked for again', at: new Date('2026-11-24T10:40:00Z'), passedAt: passed, stale: ['promote'] },
    { name: 'not passed yet: nothing to expire', at: new Date('2026-11-24T12:00:00Z'), passedAt: null, stale: [] },
  ];
  it.each(cases)('$name', (c) => {
    const at = new Map<string, Date | null>([['promote', c.passedAt], ['ack', passed]]);
    expect(staleGateApprovals(steps.get('full')!, steps, at, c.at).map((s) => s.gate)).toEqual(c.stale);
  });

  it('is checked like the rule field: a wrong max_age on a gate is refused at its field', () => {
    const bad = WorkflowFileSchema.safeParse({ name: 'w', steps: [{ id: 'g', approval: { roles: ['r'], max_age: 'soon' } }] });
    expect(bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(['steps.0.approval.max_age: not a duration (e.g. 30s, 10m, 2h)']);
  });
});
