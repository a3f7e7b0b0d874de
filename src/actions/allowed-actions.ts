import { z } from 'zod';
import type { RolloutRow, StepRow } from '../db/schema.js';
import type { Policy } from '../policy/policy-config.js';
import { actRequestFor, relationTo, ROLLOUT_VERBS, whoMayAct, type ChangeRelation, type RolloutVerb } from '../policy/who-may-act.js';

/** The viewer, as the page knows them: their account and the roles they hold now. */
export interface PageViewer {
  readonly account: { readonly accountId: number; readonly username?: string };
  readonly roles: ReadonlyArray<{ readonly role: string }>;
}

/**
 * The actions the web page offers this viewer on a rollout in its current state: each verb that
 * `whoMayAct` allows, asked exactly as the API will ask when the form is posted (which checks
 * again). `decisions` are the rollout's recorded decisions: their inputs name the change's owner
 * and uploader, so an author is not offered an approval that would not count.
 */
export function allowedActions(policy: Policy, rollout: RolloutRow, steps: readonly StepRow[], viewer: PageViewer, decisions: ReadonlyArray<{ readonly inputs: unknown }>): RolloutVerb[] {
  const actor = { display: viewer.account.username ?? `account ${viewer.account.accountId}`, relation: relationFromDecisions(decisions, viewer.account.accountId), roles: viewer.roles.map((g) => g.role) };
  return ROLLOUT_VERBS.filter((verb) => whoMayAct(actRequestFor(policy, rollout, steps, { verb, source: 'api', actor })).allowed);
}

/** The owner and uploader as a decision recorded them (`decisions.inputs`); other shapes say nothing. */
const AuthorsSchema = z.object({ owner: z.object({ accountId: z.number() }), uploader: z.object({ accountId: z.number() }).nullish() });

/** The viewer's relation to the change from any recorded decision that names its authors; `unknown` if none does. */
export function relationFromDecisions(decisions: ReadonlyArray<{ readonly inputs: unknown }>, accountId: number): ChangeRelation {
  for (const d of decisions) {
    const authors = AuthorsSchema.safeParse(d.inputs);
    if (authors.success) return relationTo({ owner: authors.data.owner, uploader: authors.data.uploader ?? undefined }, accountId);
  }
  return 'unknown';
}
