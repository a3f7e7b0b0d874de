import type { StartVerdict } from '../actions/check-at-start.js';
import type { RolloutRow } from '../db/schema.js';
import type { Logger } from '../log.js';
import type { Policy } from '../policy/policy-config.js';
import type { ChangeMessages } from '../messages/change-messages.js';
import type { RolloutLeaseStore } from '../rollouts/rollout-lease-store.js';
import type { RolloutReads } from '../rollouts/rollout-reads.js';
import type { StepDeps } from './step-runner.js';

/** What the execute stage needs of the service: its stores, policy, logger and settings. */
export interface RunnerDeps extends StepDeps {
  readonly leases: RolloutLeaseStore;
  readonly reads: RolloutReads;
  /** Where the started, gate, finished and superseded messages go. */
  readonly messages: ChangeMessages;
  readonly policy: () => Policy;
  readonly logger: Logger;
  /** Values never stored or posted (e.g. the Gerrit password); secret-looking step variables are added. */
  readonly secrets?: readonly string[];
  readonly onReport: () => void;
  /**
   * Checks a just-claimed rollout's decision again before its first step (the policy in use,
   * Gerrit groups and windows now); one that no longer holds goes back to held or denied and does
   * not start. Wired by the service; absent, rollouts start as decided.
   */
  readonly startCheck?: (rollout: RolloutRow, workerId: string) => Promise<StartVerdict>;
  /** The clock windows are judged by inside a workflow (`windows_apply: every_step`); now by default. */
  readonly now?: () => Date;
  /** Called once a rollout has succeeded (committed): a policy change then takes effect. */
  readonly onSucceeded?: (rollout: RolloutRow) => void;
  /** How long a lease lasts without a heartbeat; a crashed worker's rollouts resume after this. */
  readonly leaseMs?: number;
  /** How often a running rollout renews its lease and looks for operator requests and passed gates. */
  readonly pollMs?: number;
}
