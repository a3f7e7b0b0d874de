import type { Kysely } from 'kysely';
import type { Database, EventRow } from '../db/schema.js';
import { GerritError } from '../errors.js';
import type { RolloutStore } from '../execute/rollout-store.js';
import type { GerritChange, GerritClient } from '../gerrit/gerrit-client.js';
import { ChangeMergedEventSchema, type ChangeMergedEvent } from '../gerrit/gerrit-event.js';
import type { EventStore } from '../intake/event-store.js';
import type { Logger } from '../log.js';
import { denyMessage, holdMessage, REVIEW_TAG } from '../report/format-message.js';
import type { OutboxStore } from '../report/outbox-store.js';
import { rolloutSummary } from '../report/rollout-summary.js';
import { decide } from './decide.js';
import { footer, JUSTIFICATION_FOOTER, parseFooters, RULE_FOOTER } from './footers.js';
import { matchingRules } from './match.js';
import type { Policy, RolloutRule } from './policy-config.js';
import { rolesForGroups } from './roles.js';

export interface MergeProcessorDeps {
  readonly db: Kysely<Database>;
  readonly events: EventStore;
  readonly rollouts: RolloutStore;
  readonly outbox: OutboxStore;
  readonly gerrit: GerritClient;
  readonly policy: () => Policy;
  readonly logger: Logger;
  readonly publicUrl: string | undefined;
  /** Called when a rollout is queued, to wake the runner. */
  readonly onQueued: () => void;
  /** Called when a review message is queued, to wake the reporter. */
  readonly onReport: () => void;
}

/** How long an event is leased while it is processed; after a crash it becomes due again. */
const LEASE_MS = 5 * 60_000;
/** Retries of an event whose change Gerrit does not yet show as merged, or while Gerrit is down. */
const MAX_ATTEMPTS = 20;

/**
 * The decide stage: takes stored events in order and turns each `change-merged` into one
 * decided rollout per matching rule, read from Gerrit's REST view of the change (the event is a
 * hint; REST is the truth for status, votes and the commit message).
 */
export class MergeProcessor {
  readonly #d: MergeProcessorDeps;

  constructor(deps: MergeProcessorDeps) {
    this.#d = deps;
  }

  /** Processes one due event; returns false when there was none. */
  async processNext(): Promise<boolean> {
    const row = await this.#d.events.claimDue(LEASE_MS);
    if (!row) return false;
    const log = this.#d.logger.child({ eventId: row.id, type: row.type });
    try {
      const outcome = await this.#process(row);
      await this.#d.events.finish(row.id, outcome.status, outcome.reason);
      log.info({ status: outcome.status, reason: outcome.reason }, 'event processed');
    } catch (err) {
      const retryable = !(err instanceof GerritError) || err.retryable;
      const message = (err as Error).message;
      if (retryable && row.attempts < MAX_ATTEMPTS) {
        const delay = Math.min(1000 * 2 ** row.attempts, 5 * 60_000);
        log.warn({ err, attempt: row.attempts, retryInMs: delay }, 'event processing failed; will retry');
        await this.#d.events.retryLater(row.id, delay, message);
      } else {
        log.error({ err, attempt: row.attempts }, 'event processing failed for good');
        await this.#d.events.finish(row.id, 'failed', message);
      }
    }
    return true;
  }

  async #process(row: EventRow): Promise<{ status: 'processed' | 'ignored'; reason: string | null }> {
    if (row.type !== 'change-merged') return { status: 'ignored', reason: `${row.type} events are not acted on yet` };
    const event = ChangeMergedEventSchema.parse(JSON.parse(row.raw));
    const change = await this.#d.gerrit.getChange(event.change.project, event.change.number);
    if (change.status !== 'MERGED') {
      // Gerrit's REST view can lag the event; the caller retries with backoff
      throw new GerritError(`change ${change.number} is ${change.status} in REST, not MERGED yet`, 200, true);
    }
    const footers = parseFooters(change.commitMessage);
    const rules = matchingRules(this.#d.policy().rollouts, {
      project: change.project,
      branch: change.branch,
      files: change.files,
      ruleFooter: footer(footers, RULE_FOOTER),
    });
    if (rules.length === 0) return { status: 'ignored', reason: `no rollout rule matches ${change.project} ${change.branch}` };
    const rolesByAccount = await this.#voterRoles(change, rules);
    const decided: string[] = [];
    for (const rule of rules) {
      decided.push(`${rule.name}: ${await this.#decideRule(rule, change, event, rolesByAccount, footer(footers, JUSTIFICATION_FOOTER))}`);
    }
    return { status: 'processed', reason: decided.join('; ') };
  }

  async #voterRoles(change: GerritChange, rules: readonly RolloutRule[]): Promise<Map<number, readonly string[]>> {
    const ids = new Set<number>();
    for (const rule of rules) for (const vote of change.votes[rule.approval.label] ?? []) ids.add(vote.account.accountId);
    const roles = new Map<number, readonly string[]>();
    for (const id of ids) roles.set(id, rolesForGroups(this.#d.policy().roles, await this.#d.gerrit.getAccountGroups(id)));
    return roles;
  }

  async #decideRule(
    rule: RolloutRule,
    change: GerritChange,
    event: ChangeMergedEvent,
    rolesByAccount: ReadonlyMap<number, readonly string[]>,
    justification: string | undefined,
  ): Promise<string> {
    const result = decide({ rule, change, rolesByAccount, justification });
    const workflow = this.#d.policy().workflows[rule.workflow];
    const revision = change.currentRevision;
    const created = await this.#d.db.transaction().execute(async (trx) => {
      const rollout = await this.#d.rollouts.create(
        {
          rolloutKey: `${rule.name}:${change.project}~${change.number}:${revision}`,
          rule: rule.name,
          workflow: rule.workflow,
          environment: rule.environment,
          project: change.project,
          branch: change.branch,
          changeNumber: change.number,
          patchset: change.currentPatchSet,
          revision,
          newRev: event.newRev,
          subject: change.subject,
          decision: result.outcome,
          reasons: result.reasons,
          approvers: result.approvers,
          justification: result.justification,
          stepIds: workflow?.steps.map((s) => s.id) ?? [],
        },
        trx,
      );
      if (rollout && result.outcome !== 'allow') {
        const summary = rolloutSummary(rollout, this.#d.publicUrl);
        await this.#d.outbox.enqueue(
          {
            messageKey: `rollout:${rollout.id}:${result.outcome}`,
            rolloutId: rollout.id,
            project: change.project,
            changeNumber: change.number,
            revision,
            tag: REVIEW_TAG,
            message: result.outcome === 'hold' ? holdMessage(summary) : denyMessage(summary),
          },
          trx,
        );
      }
      return rollout;
    });
    if (!created) return 'already decided';
    if (result.outcome === 'allow') this.#d.onQueued();
    else this.#d.onReport();
    return `${result.outcome} (rollout #${created.id})`;
  }
}
