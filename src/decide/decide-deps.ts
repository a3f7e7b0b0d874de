import type { ActionDeps } from '../actions/action-deps.js';
import type { GerritChange } from '../gerrit/gerrit-client.js';
import type { Logger } from '../log.js';
import type { PolicyCheckReport } from '../messages/format-message.js';
import type { EventStore } from '../rollouts/event-store.js';

// The decide stage's dependencies and the shapes its handlers share. They live apart from the
// event processor so that the handlers it calls can name them without importing it back (a cycle).

export interface DecideDeps extends ActionDeps {
  readonly events: EventStore;
  readonly logger: Logger;
  /** rollgate's own Gerrit account: its comments are never read as commands. */
  readonly serviceUser: string | undefined;
  /** The label rollgate votes readiness on, for open changes; undefined turns readiness off. */
  readonly readinessLabel?: string | undefined;
  /** With the policy in a Gerrit project: each new patch set of an open change to it is checked. */
  readonly policyChecks?: PolicyChecks | undefined;
  /** Called for a merge no rule matches (a policy change then takes effect at once). */
  readonly onIgnoredMerge?: (change: GerritChange) => void;
  /** Called when Gerrit says it dropped events (`dropped-output`): the back-fill closes the gap. */
  readonly onGap: (reason: string) => void;
}

/** How open changes to the policy project are checked: which project and branch, the label voted (if any), the check itself. */
export interface PolicyChecks {
  readonly repo: { readonly project: string; readonly branch: string };
  readonly label: string | undefined;
  check(ref: string): Promise<PolicyCheckReport>;
}

/** What handling an event came to, stored on the event row. */
export interface Handled {
  readonly status: 'processed' | 'ignored';
  readonly reason: string | null;
}
