import type { Insertable, Kysely } from 'kysely';
import type { AuditTrail } from '../audit/audit-trail.js';
import type { Database, DecisionRow, DecisionsTable, RolloutRow } from '../db/schema.js';
import type { GerritChange } from '../gerrit/gerrit-client.js';
import type { CommentApproval, DecisionResult, Reason } from '../policy/decide.js';
import type { RolloutRule } from '../policy/policy-config.js';
import type { RoleGrant } from '../policy/roles.js';

/** The reason of an `ignore`: not one of decide()'s codes, as no rule was decided. */
interface IgnoreReason {
  readonly code: 'no-rule-matches';
  readonly message: string;
}

export interface DecisionEntry {
  readonly rolloutId: number | null;
  readonly rule: RolloutRule;
  readonly change: GerritChange;
  readonly result: DecisionResult;
  readonly rolesByAccount: ReadonlyMap<number, readonly RoleGrant[]>;
  readonly commentApprovals: readonly CommentApproval[];
  readonly at: Date;
  /** `start`: checked again when a worker started it; `window`: its closed window opened. */
  readonly trigger: 'merge' | 'comment' | 'api' | 'command' | 'vote' | 'expiry' | 'replay' | 'start' | 'window';
  /** For a decision made by `rollgate replay` (trigger 'replay'): which recording, and which line of it. */
  readonly replay?: ReplayOrigin;
  readonly actor: string | undefined;
  readonly policyVersion: string;
}

/** The recording a replayed decision came from: its path, the sha256 of its bytes, and the line. */
export interface ReplayOrigin {
  readonly file: string;
  readonly sha256: string;
  readonly line: number;
}

/**
 * The `decisions` table, append only: every decision with the facts it was made from, so an
 * auditor can see why a rollout ran (or not) under which version of the policy. With an audit
 * trail, each decision is also appended there, in the same transaction.
 */
export class DecisionLog {
  readonly #db: Kysely<Database>;
  readonly #audit: AuditTrail | undefined;

  constructor(db: Kysely<Database>, audit?: AuditTrail) {
    this.#db = db;
    this.#audit = audit;
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
      ...(e.replay ? { replay: e.replay } : {}),
    };
    await this.#insert(
      {
        rollout_id: e.rolloutId,
        rule: e.rule.name,
        project: e.change.project,
        change_number: e.change.number,
        revision: e.change.currentRevision,
        trigger: e.trigger,
        actor: e.actor ?? null,
        outcome: e.result.outcome,
        reasons: e.result.reasons,
        inputs,
        policy_version: e.policyVersion,
      },
      trx,
    );
  }

  /** A merge no rule matches: nothing rolls out, and the reason (often a `Rollout:` footer) is kept. */
  async recordIgnored(change: GerritChange, reason: string, at: Date, policyVersion: string, trx: Kysely<Database> = this.#db): Promise<void> {
    await this.#insert(
      {
        rollout_id: null,
        rule: null,
        project: change.project,
        change_number: change.number,
        revision: change.currentRevision,
        trigger: 'merge',
        actor: null,
        outcome: 'ignore',
        reasons: [{ code: 'no-rule-matches', message: reason }],
        inputs: { at: at.toISOString(), branch: change.branch, files: change.files, commitMessage: change.commitMessage, owner: change.owner, patchset: change.currentPatchSet },
        policy_version: policyVersion,
      },
      trx,
    );
  }

  /** A held rollout nobody approved in time: denied by the clock. */
  async recordExpiry(rollout: RolloutRow, reason: Reason, maxHoldMs: number, policyVersion: string, trx: Kysely<Database> = this.#db): Promise<void> {
    await this.#insert(
      {
        rollout_id: rollout.id,
        rule: rollout.rule,
        project: rollout.project,
        change_number: rollout.change_number,
        revision: rollout.revision,
        trigger: 'expiry',
        actor: null,
        outcome: 'deny',
        reasons: [reason],
        inputs: { at: new Date().toISOString(), heldSince: rollout.created_at, maxHoldMs },
        policy_version: policyVersion,
      },
      trx,
    );
  }

  /** A rollout whose rule left the policy before it started: denied at the start. */
  async recordRuleGone(rollout: RolloutRow, reasons: readonly Reason[], at: Date, policyVersion: string, trx: Kysely<Database> = this.#db): Promise<void> {
    await this.#insert(
      {
        rollout_id: rollout.id,
        rule: rollout.rule,
        project: rollout.project,
        change_number: rollout.change_number,
        revision: rollout.revision,
        trigger: 'start',
        actor: null,
        outcome: 'deny',
        reasons,
        inputs: { at: at.toISOString(), decidedUnder: rollout.approval_binding },
        policy_version: policyVersion,
      },
      trx,
    );
  }

  async #insert(d: Omit<Insertable<DecisionsTable>, 'reasons' | 'inputs'> & { readonly reasons: readonly (Reason | IgnoreReason)[]; readonly inputs: Readonly<Record<string, unknown>> }, trx: Kysely<Database>): Promise<void> {
    await trx
      .insertInto('decisions')
      .values({ ...d, reasons: JSON.stringify(d.reasons), inputs: JSON.stringify(d.inputs) })
      .execute();
    const why = d.reasons[0]?.message;
    await this.#audit?.append(
      {
        kind: 'decision',
        // who caused it; the service itself for a merge or an expiry
        actor: d.actor ?? 'rollgate',
        rolloutId: d.rollout_id ?? null,
        project: d.project,
        changeNumber: d.change_number,
        summary: `${d.outcome} ${d.project}~${d.change_number} ${d.rule === null ? 'under no rule' : `under rule ${d.rule}`} (${d.trigger}${d.actor ? ` by ${d.actor}` : ''})${why ? `: ${why}` : ''}`,
        // a replayed decision names its recording at the top, so it cannot be taken for a live one
        data: { trigger: d.trigger, ...(d.inputs.replay ? { replay: d.inputs.replay } : {}), rule: d.rule, revision: d.revision, outcome: d.outcome, reasons: d.reasons, inputs: d.inputs, policyVersion: d.policy_version },
      },
      trx,
    );
  }

  async forChange(project: string, changeNumber: number): Promise<DecisionRow[]> {
    return this.#db.selectFrom('decisions').selectAll().where('project', '=', project).where('change_number', '=', changeNumber).orderBy('id').execute();
  }
}
