import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PolicyConfigError } from './errors.js';
import { COMMIT_SHA } from './gerrit/commit-sha.js';
import type { GerritRestConfig } from './gerrit/gerrit-rest-client.js';
import { withGitTree } from './gerrit/git-tree.js';
import { loadPolicy } from './load-policy.js';
import type { PolicyCheckReport } from './messages/format-message.js';
import type { Policy } from './policy/policy-config.js';
import type { CheckpointStore } from './rollouts/checkpoint-store.js';
import { runPolicyTests } from './policy-tests.js';

/** The commit of the policy project in use, kept in the `checkpoints` table so every replica, a restart and `explain` use the same one. */
const POLICY_CHECKPOINT = 'policy.commit';
const PolicyCommitSchema = z.string().regex(COMMIT_SHA);

/** The commit of the policy project in use, as the database keeps it; undefined before the first. */
export async function policyCommitInUse(checkpoints: CheckpointStore): Promise<string | undefined> {
  return checkpoints.get(POLICY_CHECKPOINT, PolicyCommitSchema);
}

/** Records the commit of the policy project now in use, for the other replicas, a restart and `explain`. */
export async function keepPolicyCommit(checkpoints: CheckpointStore, commit: string): Promise<void> {
  await checkpoints.set(POLICY_CHECKPOINT, PolicyCommitSchema.parse(commit));
}

/** Where the policy lives in Gerrit (ROLLGATE_POLICY_REPO). */
export interface PolicyRepo {
  readonly project: string;
  readonly branch: string;
}

/**
 * The policy tree of one commit of the policy project (`ref`: a commit, or the branch), loaded
 * and checked exactly like a folder (`loadPolicy`). Its version is the Git commit, so every
 * decision names the commit it was made under. Problems name each file as `project@commit:path`.
 */
export async function loadPolicyFromGit(gerrit: GerritRestConfig, repo: PolicyRepo, ref: string): Promise<Policy> {
  return withGitTree(gerrit, repo.project, ref, ({ dir, commit }) => {
    try {
      return { ...loadPolicy(dir), version: commit };
    } catch (err) {
      if (!(err instanceof PolicyConfigError)) throw err;
      throw new PolicyConfigError(err.problems.map(inRepo(repo, dir, commit)));
    }
  });
}

/**
 * Runs `policy check` and `policy test` on `ref` of the policy project (an open change's patch
 * set, `refs/changes/…`), as rollgate would load it, without putting it in use.
 */
export async function checkPolicyAt(gerrit: GerritRestConfig, repo: PolicyRepo, ref: string): Promise<PolicyCheckReport> {
  return withGitTree(gerrit, repo.project, ref, ({ dir, commit }) => {
    const named = inRepo(repo, dir, commit);
    let policy: Policy;
    try {
      policy = loadPolicy(dir);
    } catch (err) {
      if (!(err instanceof PolicyConfigError)) throw err;
      return { commit, problems: err.problems.map(named) };
    }
    const counts = { rules: policy.rollouts.length, workflows: Object.keys(policy.workflows).length };
    if (!existsSync(path.join(dir, 'tests'))) return { commit, problems: [], counts };
    const run = runPolicyTests(dir, policy);
    const failures = [
      ...run.problems.map(named),
      ...run.cases.filter((c) => c.differences.length > 0).map((c) => `${named(c.file)}: ${c.name}: ${c.differences.join('; ')}`),
    ];
    return { commit, problems: [], counts, tests: { passed: run.cases.filter((c) => c.differences.length === 0).length, failures } };
  });
}

/** Names the files of a fetched tree as `project@commit:path` in a problem, instead of the temporary folder they were read from. */
function inRepo(repo: PolicyRepo, dir: string, commit: string): (text: string) => string {
  const where = `${repo.project}@${commit.slice(0, 12)}:`;
  return (text) => text.replaceAll(`${dir}/`, where).replaceAll(dir, where);
}
