import { PolicyConfigError } from './errors.js';
import type { GerritRestConfig } from './gerrit/gerrit-rest-client.js';
import { withGitTree } from './gerrit/git-tree.js';
import { loadPolicy } from './load-policy.js';
import type { Policy } from './policy/policy-config.js';

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
