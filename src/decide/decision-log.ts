import type { Kysely } from 'kysely';
import type { Database, DecisionRow } from '../db/schema.js';
import type { GerritChange } from '../gerrit/gerrit-client.js';
import type { CommentApproval, DecisionResult } from './decide.js';
import type { RolloutRule } from './policy-config.js';
import type { RoleGrant } from './roles.js';

export interface DecisionEntry {
  readonly rolloutId: number | null;
  readonly rule: RolloutRule;
  readonly change: GerritChange;
  readonly result: DecisionResult;
  readonly rolesByAccount: ReadonlyMap<number, readonly RoleGrant[]>;
  readonly commentApprovals: readonly CommentApproval[];
  readonly at: Date;
  readonly trigger: 'merge' | 'comment' | 'command' | 'expiry';
  readonly actor: string | undefined;
  readonly policyVersion: string;
}

/**
 * The `decisions` table, append only: every decision with the facts it was made from, so an
 * auditor can see why a rollout ran (or not) under which version of the policy.
 */
export class DecisionLog {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async record(e: DecisionEntry, trx: Kysely<Database> = this.#db): Promise<void> {
    const labels = [...new Set(e.rule.approval.map((g) => g.label))];
    const inputs = {
      at: e.at.toISOString(),
      rule: e.rule,
      owner: e.change.owner,
      uploader: e.change.uploader ?? null,
      patchset: e.change.currentPatchSet,
      votes: labels.flatMap((label) => (e.change.votes[label] ?? []).map((v) => ({ label, value: v.value, account: v.account }))),
      roles: Object.fromEntries([...e.rolesByAccount].map(([id, grants]) => [String(id), grants])),
      commentApprovals: e.commentApprovals,
      justification: e.result.justification ?? null,
    };
    await trx
      .insertInto('decisions')
      .values({
        rollout_id: e.rolloutId,
        rule: e.rule.name,
        project: e.change.project,
        change_number: e.change.number,
        revision: e.change.currentRevision,
        trigger: e.trigger,
        actor: e.actor ?? null,
        outcome: e.result.outcome,
        reasons: JSON.stringify(e.result.reasons),
        inputs: JSON.stringify(inputs),
        policy_version: e.policyVersion,
      })
      .execute();
  }

  async forChange(project: string, changeNumber: number): Promise<DecisionRow[]> {
    return this.#db.selectFrom('decisions').selectAll().where('project', '=', project).where('change_number', '=', changeNumber).orderBy('id').execute();
  }
}
