import { existsSync } from 'node:fs';
import { loadConfig, type Config } from '../config.js';
import { configuredTarget, createDatabase } from '../db/database.js';
import type { ApprovalRow, RolloutRow } from '../db/schema.js';
import { asCommentApproval } from '../rollouts/approval-store.js';
import type { CommentApproval, DecisionResult } from '../policy/decide.js';
import { evaluateChange, votersOf, whyIgnored, type RuleDecision } from '../policy/evaluate-change.js';
import { loadPolicy } from '../load-policy.js';
import { loadPolicyFromGit, policyCommitInUse } from '../policy-from-git.js';
import { CheckpointStore } from '../rollouts/checkpoint-store.js';
import { mergeGrants } from '../policy/roles.js';
import { resolveRoles } from '../policy/voter-roles.js';
import { GerritError, RollgateError } from '../errors.js';
import type { GerritChange } from '../gerrit/gerrit-client.js';
import { GerritRestClient } from '../gerrit/gerrit-rest-client.js';
import { UsageError } from './cli-args.js';
import { approvalBinding } from '../actions/approval-binding.js';
import type { Policy } from '../policy/policy-config.js';
import { decideWithFreshApprovals, storedBinding } from '../policy/start-check.js';

/** `rollgate explain --json`: one object per matching rule (or one `ignore` object). */
export interface ExplainLine {
  readonly change: number;
  readonly project: string;
  readonly branch: string;
  readonly status: GerritChange['status'];
  readonly patchSet: number;
  readonly revision: string;
  /** The moment decided for (now). */
  readonly at: string;
  /** The policy decided under: its version (the Git commit, with the policy in a Gerrit project). */
  readonly policy: string;
  readonly rule: string | null;
  readonly workflow: string | null;
  readonly environment: string | null;
  readonly decision: 'allow' | 'hold' | 'deny' | 'ignore';
  readonly approvers: ReadonlyArray<{ readonly account: string; readonly accountId: number; readonly via: string; readonly roles: readonly string[]; readonly groups: readonly string[] }>;
  readonly reasons: ReadonlyArray<{ readonly code: string; readonly message: string }>;
  readonly justification: string | null;
  /** Rollouts rollgate recorded for this change and rule, oldest first. */
  readonly rollouts: ReadonlyArray<RolloutLine>;
}

/** A recorded rollout as explain shows it. */
interface RolloutLine {
  readonly id: number;
  readonly status: string;
  readonly decision: string;
  readonly patchSet: number;
  readonly revision: string;
  readonly createdAt: string;
  /** The digest of what its decision was given for (revision, workflow, policy), and whether the policy in use now gives the same; null when none was kept. */
  readonly approvedFor?: { readonly digest: string; readonly policy: string; readonly matchesNow: boolean } | null;
}

/** The change cannot be read, or Gerrit REST is not set up: explained in words, exit 1. */
class ExplainError extends RollgateError {
  override readonly code = 'explain';
}

/**
 * `rollgate explain <change-number> [--project P] [--json] [--policies DIR]`: reads the change
 * from Gerrit REST as `serve` does, resolves its voters' roles, and decides every matching rule
 * now through `evaluateChange()`, the one decision path. Approvals given by `/rollout approve`
 * on a held rollout (from the database) count as they do when `serve` decides again. Exit 0
 * whenever it could explain, whatever the outcome.
 */
export async function explainCommand(changeArg: string, values: { readonly project?: string | undefined; readonly json: boolean; readonly policies?: string | undefined }): Promise<number> {
  if (!/^[1-9]\d*$/.test(changeArg)) {
    throw new UsageError('rollgate explain: give one change number: rollgate explain <change-number> [--project P] [--json] [--policies DIR]');
  }
  const number = Number(changeArg);
  const config = loadConfig();
  if (!config.gerritRest) {
    throw new ExplainError(
      'rollgate explain reads the change from Gerrit REST, which is not configured: set GERRIT_URL, GERRIT_HTTP_USER and GERRIT_HTTP_PASSWORD_FILE (or GERRIT_HTTP_PASSWORD), as for rollgate serve',
    );
  }
  const gerrit = new GerritRestClient(config.gerritRest, { timeoutMs: 15_000 });

  let change: GerritChange;
  try {
    let project = values.project;
    if (project === undefined) {
      const projects = await gerrit.findChangeProjects(number);
      if (projects.length === 0) throw new ExplainError(`change ${number}: Gerrit at ${config.gerritRest.url} has no such change, or ${config.gerritRest.user} cannot see it`);
      if (projects.length > 1) throw new ExplainError(`change ${number} exists in several projects (${projects.join(', ')}): give --project`);
      project = projects[0]!;
    }
    change = await gerrit.getChange(project, number);
  } catch (err) {
    if (err instanceof GerritError) throw new ExplainError(`change ${number}: cannot read it from Gerrit: ${err.message}`);
    throw err;
  }

  const stored = await storedRollouts(config, change);
  // the policy serve decides with: --policies, else the commit in use when it comes from Gerrit, else the folder
  const repo = values.policies === undefined ? config.policyRepo : undefined;
  const policy = repo ? await loadPolicyFromGit(config.gerritRest, repo, stored.policyCommit ?? `refs/heads/${repo.branch}`) : loadPolicy(values.policies ?? config.policyDir);
  // approvals given by comment count for the held rollout of their rule, as when serve decides again
  const approvalsByRule = new Map<string, CommentApproval[]>();
  for (const row of stored.rows) {
    if (row.status !== 'held' || row.revision !== change.currentRevision) continue;
    const given = stored.approvals.filter((a) => a.rollout_id === row.id).map(asCommentApproval);
    if (given.length > 0) approvalsByRule.set(row.rule, given);
  }
  const at = new Date();
  let decisions: RuleDecision[];
  try {
    const people = [...votersOf(policy, change), ...[...approvalsByRule.values()].flat().map((a) => a.account.accountId)];
    const rolesByAccount = await resolveRoles(gerrit, policy.roles, people);
    // an approval given through the API keeps the IdP roles its approver held then, as serve counts them
    for (const a of stored.approvals) {
      if (approvalsByRule.has(stored.rows.find((r) => r.id === a.rollout_id)?.rule ?? '')) rolesByAccount.set(a.account_id, mergeGrants(rolesByAccount.get(a.account_id) ?? [], a.idp_grants));
    }
    decisions = evaluateChange({ policy, change, rolesByAccount, at }).map((d) => {
      // a held rollout is decided again as serve does: with its approvals, none past approval.max_age
      const held = stored.rows.find((r) => r.status === 'held' && r.revision === change.currentRevision && r.rule === d.rule.name);
      if (!held) return d;
      const commentApprovals = approvalsByRule.get(d.rule.name) ?? [];
      return { rule: d.rule, result: decideWithFreshApprovals({ policy, rule: d.rule, change, rolesByAccount, commentApprovals, votesSince: new Date(held.created_at), at }) };
    });
  } catch (err) {
    if (err instanceof GerritError) throw new ExplainError(`change ${number}: cannot read the voters' groups from Gerrit: ${err.message}`);
    throw err;
  }

  const lines = toLines(change, decisions, stored.rows, at, whyIgnored(policy, change), policy.version, (row) => approvedFor(policy, row, at));
  if (values.json) {
    for (const line of lines) process.stdout.write(`${JSON.stringify(line)}\n`);
  } else {
    process.stdout.write(formatText(change, lines, stored.rows, at));
  }
  if (stored.note) process.stderr.write(`${stored.note}\n`);
  return 0;
}

/** Whether a rollout would start under what it was decided for: the same digest from the policy in use now. */
function approvedFor(policy: Policy, row: RolloutRow, at: Date): RolloutLine['approvedFor'] {
  const binding = storedBinding(row.approval_binding);
  if (!binding) return null;
  const rule = policy.rollouts.find((r) => r.name === row.rule);
  return { digest: binding.digest, policy: binding.policyVersion, matchesNow: rule !== undefined && approvalBinding(policy, rule, row.revision, at).digest === binding.digest };
}

function toLines(
  change: GerritChange,
  decisions: readonly RuleDecision[],
  rows: readonly RolloutRow[],
  at: Date,
  ignoredBecause: string,
  policy: string,
  bindingOf: (row: RolloutRow) => RolloutLine['approvedFor'],
): ExplainLine[] {
  const base = { change: change.number, project: change.project, branch: change.branch, status: change.status, patchSet: change.currentPatchSet, revision: change.currentRevision, at: at.toISOString(), policy };
  const rolloutsOf = (rule: string | null) =>
    rows
      .filter((r) => rule === null || r.rule === rule)
      .map((r) => ({ id: r.id, status: r.status, decision: r.decision, patchSet: r.patchset, revision: r.revision, createdAt: new Date(r.created_at).toISOString(), approvedFor: bindingOf(r) }));
  if (decisions.length === 0) {
    return [
      {
        ...base,
        rule: null,
        workflow: null,
        environment: null,
        decision: 'ignore',
        approvers: [],
        reasons: [{ code: 'no-rule-matches', message: `${ignoredBecause}${change.files.length > 0 ? ` (files: ${change.files.slice(0, 5).join(', ')}${change.files.length > 5 ? ', …' : ''})` : ''}: a merge is recorded as ignored` }],
        justification: null,
        rollouts: rolloutsOf(null),
      },
    ];
  }
  return decisions.map(({ rule, result }: { rule: { name: string; workflow: string; environment: string }; result: DecisionResult }) => ({
    ...base,
    rule: rule.name,
    workflow: rule.workflow,
    environment: rule.environment,
    decision: result.outcome,
    approvers: result.approvers.map((a) => ({ account: a.display, accountId: a.accountId, via: a.via, roles: [...a.roles], groups: [...a.groups] })),
    reasons: result.reasons.map((r) => ({ code: r.code, message: r.message })),
    justification: result.justification ?? null,
    rollouts: rolloutsOf(rule.name),
  }));
}

function formatText(change: GerritChange, lines: readonly ExplainLine[], rows: readonly RolloutRow[], at: Date): string {
  const out: string[] = [];
  const who = (a: GerritChange['owner'] | undefined) => (a ? (a.username ?? a.name ?? a.email ?? `account ${a.accountId}`) : 'unknown');
  out.push(`change ${change.number} in ${change.project} (branch ${change.branch}): "${change.subject}"`);
  out.push(`  ${change.status}, patch set ${change.currentPatchSet} (${change.currentRevision.slice(0, 12)}), owner ${who(change.owner)}, uploader ${who(change.uploader)}`);
  if (change.status !== 'MERGED') out.push(`  not merged: this is what rollgate would decide if it merged now`);
  out.push(`  decided at ${at.toISOString()} under policy ${lines[0]?.policy ?? 'unknown'}`);
  for (const line of lines) {
    out.push('');
    if (line.rule === null) {
      out.push(`no rule: IGNORE`);
    } else {
      out.push(`rule ${line.rule}: ${line.decision.toUpperCase()} (workflow ${line.workflow}, environment ${line.environment})`);
      out.push(`  approvers:`);
      if (line.approvers.length === 0) out.push(`    (none)`);
      for (const a of line.approvers) {
        const grants = a.roles.map((role, i) => (a.groups[i] ? `${role} via group ${a.groups[i]}` : role)).join(', ');
        out.push(`    ${a.account}: ${grants}, with ${a.via}`);
      }
    }
    out.push(`  reasons:`);
    for (const r of line.reasons) out.push(`    - ${r.message}`);
    if (line.rule !== null && line.rollouts.length > 0) {
      out.push(`  rollouts:`);
      for (const r of line.rollouts) out.push(`    ${rolloutText(r)}`);
    }
  }
  const shown = new Set(lines.filter((l) => l.rule !== null).flatMap((l) => l.rollouts.map((r) => r.id)));
  const others = rows.filter((r) => !shown.has(r.id));
  if (others.length > 0) {
    out.push('');
    out.push(`other rollouts of this change (rules that do not match it now):`);
    for (const r of others) out.push(`    ${rolloutText({ id: r.id, status: r.status, decision: r.decision, patchSet: r.patchset, revision: r.revision, createdAt: new Date(r.created_at).toISOString() })} rule ${r.rule}`);
  }
  return `${out.join('\n')}\n`;
}

function rolloutText(r: RolloutLine): string {
  const bound = r.approvedFor
    ? `, approved for ${r.approvedFor.digest.slice(0, 12)}: ${r.approvedFor.matchesNow ? 'still matches' : 'no longer matches the policy or workflow in use; its start decides again'}`
    : '';
  return `#${r.id} ${r.status} (decided ${r.decision} on ${r.createdAt}, patch set ${r.patchSet}, ${r.revision.slice(0, 12)}${bound})`;
}

/**
 * The rollouts recorded for the change, read from the configured database as `migrate` opens
 * it. Explaining never creates a database: with no embedded data folder yet there is nothing
 * to show, and a database that cannot be read leaves a note instead of failing the explanation.
 */
async function storedRollouts(config: Config, change: GerritChange): Promise<{ rows: RolloutRow[]; approvals: ApprovalRow[]; policyCommit?: string; note?: string }> {
  if (!config.databaseUrl && !config.dataDir.startsWith('memory://') && !existsSync(config.dataDir)) return { rows: [], approvals: [] };
  let database;
  try {
    database = await createDatabase(configuredTarget(config));
  } catch (err) {
    return { rows: [], approvals: [], note: `rollouts not shown: cannot open the database: ${(err as Error).message}` };
  }
  try {
    const rows = await database.db.selectFrom('rollouts').selectAll().where('project', '=', change.project).where('change_number', '=', change.number).orderBy('id').execute();
    const approvals = rows.length > 0 ? await database.db.selectFrom('approvals').selectAll().where('rollout_id', 'in', rows.map((r) => r.id)).orderBy('id').execute() : [];
    const policyCommit = await policyCommitInUse(new CheckpointStore(database.db));
    return { rows, approvals, ...(policyCommit !== undefined ? { policyCommit } : {}) };
  } catch (err) {
    return { rows: [], approvals: [], note: `rollouts not shown: cannot read them from the database: ${(err as Error).message}` };
  } finally {
    await database.close();
  }
}
