import type { Config } from '../config.js';
import { errorMessage, PolicyConfigError } from '../errors.js';
import type { CheckpointStore } from '../rollouts/checkpoint-store.js';
import { loadPolicy } from '../load-policy.js';
import type { Logger } from '../log.js';
import type { ChangeMessages } from '../messages/change-messages.js';
import { policyAppliedMessage, policyRefusedMessage } from '../messages/format-message.js';
import type { Metrics } from '../metrics.js';
import { keepPolicyCommit, loadPolicyFromGit, policyCommitInUse, type PolicyRepo } from '../policy-from-git.js';
import type { Policy } from '../policy/policy-config.js';


export type PolicyLoad = { readonly ok: true; readonly version: string } | { readonly ok: false; readonly problems: readonly string[] };

interface Deps {
  readonly config: Pick<Config, 'policyDir' | 'policyRepo' | 'gerritRest'>;
  readonly checkpoints: CheckpointStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * The policy `serve` decides with, and where it comes from: the policy folder (read again on
 * SIGHUP), or a branch of a Gerrit project (ROLLGATE_POLICY_REPO), where a merged change is put
 * in use once it is allowed (`apply`, called when its rollout succeeds, or at the merge when no
 * rule covers the policy project). The commit in use is kept in the database: a restart uses it
 * rather than the branch head, so a merged change that was not allowed never slips in, and the
 * other replicas pick it up (`sync`). A policy that does not load is refused, the one in use stays.
 */
export class PolicyInUse {
  #policy: Policy;
  readonly #d: Deps;

  private constructor(policy: Policy, deps: Deps) {
    this.#policy = policy;
    this.#d = deps;
    this.#show();
  }

  /** `folderPolicy`: the policy folder as already read, when the policy is not in Gerrit. */
  static async open(deps: Deps, folderPolicy?: Policy): Promise<PolicyInUse> {
    const repo = deps.config.policyRepo;
    if (!repo) return new PolicyInUse(folderPolicy ?? loadPolicy(deps.config.policyDir), deps);
    const kept = await policyCommitInUse(deps.checkpoints);
    // the first start takes the branch as it is; later ones the commit put in use last
    const policy = await loadPolicyFromGit(deps.config.gerritRest!, repo, kept ?? `refs/heads/${repo.branch}`);
    if (kept === undefined) await keepPolicyCommit(deps.checkpoints, policy.version);
    return new PolicyInUse(policy, deps);
  }

  get current(): Policy {
    return this.#policy;
  }

  /** The policy project and branch, when the policy comes from Gerrit. */
  get repo(): PolicyRepo | undefined {
    return this.#d.config.policyRepo;
  }

  /** SIGHUP: the folder is read again; a policy from Gerrit is brought to the commit in use (`sync`). */
  async reload(): Promise<PolicyLoad> {
    if (this.repo) return this.sync();
    return this.#use(() => Promise.resolve(loadPolicy(this.#d.config.policyDir)));
  }

  /** Uses the commit the database names, if another replica put a newer one in use. */
  async sync(): Promise<PolicyLoad> {
    const repo = this.repo;
    if (!repo) return { ok: true, version: this.#policy.version };
    const kept = await policyCommitInUse(this.#d.checkpoints);
    if (kept === undefined || kept === this.#policy.version) return { ok: true, version: this.#policy.version };
    return this.#use(() => loadPolicyFromGit(this.#d.config.gerritRest!, repo, kept));
  }

  /** A merged change to the policy project is allowed: its policy is put in use if it loads, and the change is told either way. */
  async apply(change: { readonly project: string; readonly number: number; readonly revision: string }, messages: ChangeMessages): Promise<PolicyLoad> {
    const repo = this.repo;
    if (!repo) return { ok: false, problems: ['the policy is not read from Gerrit'] };
    const inUse = this.#policy.version;
    const result = await this.#use(() => loadPolicyFromGit(this.#d.config.gerritRest!, repo, change.revision));
    if (result.ok) {
      await keepPolicyCommit(this.#d.checkpoints, result.version);
      await messages.policyOutcome(change, result.version, policyAppliedMessage(result.version, this.#policy.rollouts.length, Object.keys(this.#policy.workflows).length));
    } else {
      await messages.policyOutcome(change, change.revision, policyRefusedMessage(change.revision, result.problems, inUse));
    }
    return result;
  }

  async #use(load: () => Promise<Policy>): Promise<PolicyLoad> {
    const from = this.#policy.version;
    try {
      const next = await load();
      this.#policy = next;
      this.#show();
      this.#d.logger.info({ from, to: next.version, rules: next.rollouts.length, workflows: Object.keys(next.workflows).length }, 'policy reloaded');
      return { ok: true, version: next.version };
    } catch (err) {
      this.#d.metrics.policyReloadFailures.inc();
      const problems = err instanceof PolicyConfigError ? err.problems : [errorMessage(err)];
      this.#d.logger.error({ problem: problems.join('\n'), version: from }, 'policy reload refused: the policy in use stays');
      return { ok: false, problems };
    }
  }

  #show(): void {
    this.#d.metrics.policyLoaded.reset();
    this.#d.metrics.policyLoaded.set({ version: this.#policy.version }, 1);
  }
}
