import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PolicyConfigError } from './errors.js';
import type { GerritRestConfig } from './gerrit/gerrit-rest-client.js';
import { withGitTree } from './gerrit/git-tree.js';
import { loadPolicy } from './load-policy.js';
import type { PolicyCheckReport } from './messages/format-message.js';
import type { Policy } from './policy/policy-config.js';
import { runPolicyTests } from './policy-tests.js';

/** The commit of the policy project in use, kept in the `checkpoints` table so every replica, a restart and `explain` use the same one. */
export const POLICY_CHECKPOINT = 'policy.commit';
export const PolicyCommitSchema = z.string().regex(/^[0-9a-f]{40}$/);

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
      const where = `${repo.project}@${commit.slice(0, 12)}:`;
      throw new PolicyConfigError(err.problems.map((p) => p.replaceAll(`${dir}/`, where).replaceAll(dir, where)));
    }
  });
}

/**
 * Runs `policy check` and `policy test` on `ref` of the policy project (an open change's patch
 * set, `refs/changes/…`), as rollgate would load it, without putting it in use.
 */
export async function checkPolicyAt(gerrit: GerritRestConfig, repo: PolicyRepo, ref: string): Promise<PolicyCheckReport> {
  return withGitTree(gerrit, repo.project, ref, ({ dir, commit }) => {
    const where = `${repo.project}@${commit.slice(0, 12)}:`;
    const named = (text: string) => text.replaceAll(`${dir}/`, where).replaceAll(dir, where);
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
