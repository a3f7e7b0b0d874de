import { readdirSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { GerritAccount, GerritChange, GerritVote } from './gerrit/gerrit-client.js';
import type { CommentApproval, DecisionResult } from './policy/decide.js';
import { evaluateChange, whyIgnored } from './policy/evaluate-change.js';
import type { Policy } from './policy/policy-config.js';
import { rolesForGroups, type RoleGrant } from './policy/roles.js';
import { checkAtStart } from './policy/start-check.js';
import { readYamlFile } from './read-yaml-file.js';

/**
 * The policy's own tests (`rollgate policy test`, and rollgate's check of an open policy change): `<dir>/tests/*.yaml`, like
 * `opa test`. Each case states a change, who voted what, who is in which Gerrit group, any
 * `/rollout approve` comments and the moment, and the decision expected per rule. Cases are
 * decided through `evaluateChange()`, the path `serve` uses.
 *
 * ```yaml
 * cases:
 *   - name: an SRE's +2 with a justification rolls out
 *     change:
 *       project: payments/api
 *       branch: main
 *       owner: bob                 # uploader defaults to the owner
 *       files: [src/app.ts]
 *       footers: { Rollout-Justification: fixes INC-7 }   # or message: <the commit message>
 *     votes: [{ user: alice, label: Code-Review, value: 2 }]   # label defaults to Code-Review
 *     groups: { alice: [sre], bob: [developers] }
 *     approvals: [{ user: alice, justification: hotfix }]     # /rollout approve comments
 *     at: 2026-01-05T12:00:00Z     # default: Monday 2026-01-05 12:00 UTC
 *     expect:
 *       payments-api-prod: { outcome: allow, reasons: ["alice (prod-deployer via sre) approved"] }
 *     start_at: 2026-01-10T12:00:00Z   # optional: when the allowed rollouts start (default: at)
 *     groups_at_start: { alice: [] }   # optional: memberships changed by then
 *     expect_at_start:                 # what the check at the start decides, per allowed rule
 *       payments-api-prod: { outcome: hold, reasons: ["alice no longer has prod-deployer"] }
 * ```
 *
 * `expect` lists every rule that must match, and no other may; `expect: {}` means no rule
 * matches (the merge is ignored). `reasons` are texts that must each appear in some reason.
 */
const user = z.string().min(1);
const moment = z.union([z.date(), z.iso.datetime({ offset: true })]).transform((d) => new Date(d));
const expectations = z.record(
  z.string().min(1),
  z.strictObject({ outcome: z.enum(['allow', 'hold', 'deny']), reasons: z.array(z.string().min(1)).default([]) }),
);
const TestCaseSchema = z.strictObject({
  name: z.string().min(1),
  change: z.strictObject({
    project: z.string().min(1),
    branch: z.string().min(1).default('main'),
    owner: user,
    uploader: user.optional(),
    subject: z.string().default('A change'),
    files: z.array(z.string().min(1)).default([]),
    message: z.string().optional(),
    footers: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]*$/, 'a footer key such as Rollout-Justification'), z.string()).optional(),
  }).refine((c) => c.message === undefined || c.footers === undefined, { message: 'give message (the whole commit message) or footers, not both' }),
  votes: z.array(z.strictObject({ user, label: z.string().min(1).default('Code-Review'), value: z.number().int() })).default([]),
  groups: z.record(user, z.array(z.string().min(1))).default({}),
  approvals: z.array(z.strictObject({ user, justification: z.string().min(1) })).default([]),
  at: moment.optional(),
  expect: expectations,
  /** The check when an allowed rollout starts: when (default: `at`), whose groups changed by then, and what it decides. */
  start_at: moment.optional(),
  groups_at_start: z.record(user, z.array(z.string().min(1))).default({}),
  expect_at_start: expectations.optional(),
}).superRefine((c, ctx) => {
  // said at the field that is there (with its line), not at the missing one
  const given = c.start_at !== undefined ? 'start_at' : Object.keys(c.groups_at_start).length > 0 ? 'groups_at_start' : undefined;
  if (given && c.expect_at_start === undefined) ctx.addIssue({ code: 'custom', path: [given], message: `${given} needs expect_at_start (what the check at the start decides)` });
});
const TestFileSchema = z.strictObject({ cases: z.array(TestCaseSchema).min(1) });

export type PolicyTestCase = z.infer<typeof TestCaseSchema>;

/** The moment a case is decided at when it gives none: a Monday noon, UTC, so results never depend on the day tests run. */
export const DEFAULT_TEST_TIME = new Date('2026-01-05T12:00:00Z');

/** One case's result: how it differs from what it expects (empty: it passes). */
export interface CaseResult {
  readonly file: string;
  readonly name: string;
  readonly index: number;
  readonly differences: readonly string[];
}

/** Every case of `<dir>/tests/*.yaml` decided under `policy`; `problems` are files or a folder that could not be read. */
export interface PolicyTestRun {
  readonly files: number;
  readonly cases: readonly CaseResult[];
  readonly problems: readonly string[];
  /** Test files that could not be read (each has its problems in `problems`). */
  readonly broken: number;
}

export function runPolicyTests(dir: string, policy: Policy): PolicyTestRun {
  const testDir = path.join(dir, 'tests');
  let files: string[];
  try {
    files = readdirSync(testDir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (err) {
    return { files: 0, cases: [], broken: 0, problems: [`${testDir}: cannot read folder: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`] };
  }
  if (files.length === 0) return { files: 0, cases: [], broken: 0, problems: [`${testDir}: no test files (*.yaml)`] };
  const cases: CaseResult[] = [];
  const problems: string[] = [];
  let broken = 0;
  for (const name of files) {
    const file = path.join(testDir, name);
    const read = readYamlFile(file, TestFileSchema);
    if (!read.ok) {
      broken++;
      problems.push(...read.problems);
      continue;
    }
    for (const [index, c] of read.value.cases.entries()) cases.push({ file, name: c.name, index, differences: runCase(policy, c) });
  }
  return { files: files.length, cases, broken, problems };
}

/** Decides one case and returns how the result differs from what it expects (empty: it passes). */
export function runCase(policy: Policy, c: PolicyTestCase): string[] {
  const ids = new Map<string, number>();
  const account = (username: string): GerritAccount => {
    if (!ids.has(username)) ids.set(username, 1_000_000 + ids.size);
    return { accountId: ids.get(username)!, username };
  };
  const votes: Record<string, GerritVote[]> = {};
  for (const v of c.votes) {
    if (v.value === 0) continue;
    // one vote per person and label, as Gerrit keeps it: a later entry replaces an earlier one
    votes[v.label] = [...(votes[v.label] ?? []).filter((x) => x.account.username !== v.user), { account: account(v.user), value: v.value }];
  }
  const footers = Object.entries(c.change.footers ?? {}).map(([k, v]) => `${k}: ${v}`);
  const commitMessage = c.change.message ?? `${c.change.subject}\n${footers.length > 0 ? `\n${footers.join('\n')}\n` : ''}`;
  const change: GerritChange = {
    project: c.change.project,
    branch: c.change.branch,
    number: 1,
    subject: c.change.subject,
    status: 'MERGED',
    owner: account(c.change.owner),
    currentRevision: '0'.repeat(40),
    currentPatchSet: 1,
    uploader: account(c.change.uploader ?? c.change.owner),
    commitMessage,
    files: c.change.files,
    votes,
  };
  const commentApprovals: CommentApproval[] = c.approvals.map((a) => ({ account: account(a.user), justification: a.justification }));
  const rolesFrom = (groups: Readonly<Record<string, readonly string[]>>) => {
    const roles = new Map<number, readonly RoleGrant[]>();
    for (const [username, id] of ids) roles.set(id, rolesForGroups(policy.roles, (groups[username] ?? []).map((g) => ({ id: g, name: g }))));
    return roles;
  };
  const rolesByAccount = rolesFrom(c.groups);
  const at = c.at ?? DEFAULT_TEST_TIME;
  const decisions = evaluateChange({ policy, change, rolesByAccount, commentApprovals, at });
  const got = new Map(decisions.map((d) => [d.rule.name, d.result]));
  const differences = compare(c.expect, got, () => whyIgnored(policy, change), '');
  if (c.expect_at_start === undefined) return differences;

  // the allowed rollouts come up for their start: decided again then, as serve's check does
  const startAt = c.start_at ?? at;
  const given = commentApprovals.map((a) => ({ ...a, givenAt: at }));
  const atStart = new Map<string, DecisionResult>();
  for (const [rule, result] of got) {
    if (result.outcome !== 'allow') continue;
    const check = checkAtStart({
      policy,
      ruleName: rule,
      change,
      rolesByAccount: rolesFrom({ ...c.groups, ...c.groups_at_start }),
      commentApprovals: given,
      votesSince: at,
      at: startAt,
      decided: { approvers: result.approvers, binding: undefined },
      binding: undefined,
    });
    atStart.set(rule, check.result);
  }
  const notStarted = [...got].filter(([, r]) => r.outcome !== 'allow').map(([rule, r]) => `${rule} (${r.outcome} at the merge, so it does not start)`);
  return [...differences, ...compare(c.expect_at_start, atStart, () => (notStarted.length > 0 ? `allowed at the merge: none of ${notStarted.join(', ')}` : 'no rule allowed it at the merge'), ' at the start')];
}

/** How decided rules differ from what a case expects of them; `when` names the moment in the texts (` at the start`). */
function compare(expect: PolicyTestCase['expect'], got: ReadonlyMap<string, DecisionResult>, whyNone: () => string, when: string): string[] {
  const differences: string[] = [];
  for (const [rule, expected] of Object.entries(expect)) {
    const result = got.get(rule);
    if (!result) {
      const which = when === '' ? 'the rule does not match this change' : 'it does not start';
      differences.push(`${rule}: expected ${expected.outcome}${when}, but ${which}${got.size > 0 ? ` (${when === '' ? 'matching' : 'starting'}: ${[...got.keys()].join(', ')})` : ` (${whyNone()})`}`);
      continue;
    }
    const wrong: string[] = [];
    if (result.outcome !== expected.outcome) wrong.push(`${rule}: expected ${expected.outcome}${when}, got ${result.outcome}`);
    for (const text of expected.reasons) if (!result.reasons.some((r) => r.message.includes(text))) wrong.push(`${rule}: no reason${when} contains "${text}"`);
    // the reasons once, after what differs, so the fix is visible
    if (wrong.length > 0) differences.push(...wrong, reasonList(`${rule}${when}`, result));
  }
  for (const [rule, result] of got) {
    if (!(rule in expect)) differences.push(`${rule}: ${when === '' ? 'matches and decides' : 'decides at the start'} ${result.outcome}, but the case does not expect this rule${when}`, reasonList(`${rule}${when}`, result));
  }
  return differences;
}

function reasonList(rule: string, result: DecisionResult): string {
  return result.reasons.length > 0 ? `${rule} reasons:${result.reasons.map((r) => `\n    - ${r.message}`).join('')}` : `${rule} gives no reasons`;
}
