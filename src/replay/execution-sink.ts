import type { Config } from '../config.js';
import { ENDED_STATUSES } from '../db/schema.js';
import type { GerritChange } from '../gerrit/gerrit-client.js';
import { silentLogger } from '../log.js';
import { ChangeMessages } from '../messages/change-messages.js';
import { OutboxStore } from '../messages/outbox-store.js';
import type { CommentApproval, DecisionResult } from '../policy/decide.js';
import type { RolloutRule } from '../policy/policy-config.js';
import type { RoleGrant } from '../policy/roles.js';
import { recordMergeDecision, recordRedecision, rolloutKey } from '../actions/record-decision.js';
import { DecisionLog, type ReplayOrigin } from '../rollouts/decision-log.js';
import { EventStore } from '../rollouts/event-store.js';
import { RolloutStore } from '../rollouts/rollout-store.js';
import { startService, type RunningService } from '../service/service.js';
import type { RolloutLine } from './decision-line.js';

/** How long replay waits for its review messages to reach Gerrit before leaving them to `serve`. */
const REPORT_WAIT_MS = 30_000;

/**
 * Without `--dry-run`: the running pipeline (database, runner, reporter) that replayed
 * decisions are written to, and the rollouts it ran.
 */
export class ExecutionSink {
  readonly #service: RunningService;
  readonly #rollouts: RolloutStore;
  readonly #messages: ChangeMessages;
  readonly #decisions: DecisionLog;
  readonly #reports: boolean;
  /** Rollouts this replay queued, and whether their line was printed. */
  readonly #ours = new Map<number, boolean>();
  readonly #decided: number[] = [];
  readonly publicUrl: string | undefined;
  /** The `events` table the replayed lines are stored in. */
  readonly events: EventStore;

  private constructor(service: RunningService, publicUrl: string | undefined, reports: boolean) {
    this.#service = service;
    this.#rollouts = new RolloutStore(service.database.db);
    this.#messages = new ChangeMessages(new OutboxStore(service.database.db), publicUrl);
    this.#decisions = new DecisionLog(service.database.db, service.audit);
    this.events = new EventStore(service.database.db);
    this.publicUrl = publicUrl;
    this.#reports = reports;
  }

  static async start(config: Config, policyDir: string, reports: boolean): Promise<ExecutionSink> {
    // the stream is never started: the recorded file is the only intake of this run
    // decided from the recording: not checked again at the start against Gerrit's groups and the clock now (see ServiceOverrides.checkAtStart)
    const service = await startService({ ...config, policyDir, port: 0, host: '127.0.0.1', gerritSsh: undefined }, silentLogger(), { idleMs: 50, checkAtStart: false });
    return new ExecutionSink(service, config.publicUrl, reports);
  }

  /** Records a decided rollout once per rule and merged revision, as `serve` does. */
  /** Returns the rollout's id (an existing one's when this merged revision was decided before). */
  async record(rule: RolloutRule, change: GerritChange, newRev: string | undefined, result: DecisionResult, facts: { rolesByAccount: ReadonlyMap<number, readonly RoleGrant[]>; at: Date; replay: ReplayOrigin }): Promise<number | undefined> {
    const policy = this.#service.policy;
    const deps = { db: this.#service.database.db, rollouts: this.#rollouts, decisions: this.#decisions, messages: this.#messages };
    // audited like serve's decisions; account ids in a replay are the replay's own (see EventReplay)
    const created = await recordMergeDecision(deps, { policy, rule, change, newRev, result, rolesByAccount: facts.rolesByAccount, at: facts.at, replay: facts.replay });
    if (!created) {
      const existing = await this.#service.database.db.selectFrom('rollouts').select(['id', 'status']).where('rollout_key', '=', rolloutKey(rule.name, change)).executeTakeFirst();
      process.stderr.write(`change ${change.number} rule ${rule.name}: this merged revision already has rollout #${existing?.id} (${existing?.status}); not recorded or run again\n`);
      return existing?.id;
    }
    this.#decided.push(created.id);
    if (result.outcome === 'allow') this.#ours.set(created.id, false);
    return created.id;
  }

  /** Rules of the change's rollouts that are held now. */
  async held(change: GerritChange): Promise<Set<string>> {
    const rows = await this.#rollouts.heldForChange(change.project, change.number);
    return new Set(rows.filter((r) => r.revision === change.currentRevision).map((r) => r.rule));
  }

  async redecide(
    change: GerritChange,
    rule: RolloutRule,
    result: DecisionResult,
    facts: { rolesByAccount: ReadonlyMap<number, readonly RoleGrant[]>; commentApprovals: readonly CommentApproval[]; at: Date; actor: string | undefined; replay: ReplayOrigin },
  ): Promise<number | undefined> {
    const [row] = (await this.#rollouts.heldForChange(change.project, change.number)).filter((r) => r.rule === rule.name && r.revision === change.currentRevision);
    if (!row) return undefined;
    // the same write serve makes when an approval arrives (rollout, decision entry, hold message)
    const deps = { rollouts: this.#rollouts, decisions: this.#decisions, messages: this.#messages };
    const updated = await this.#service.database.db
      .transaction()
      .execute((trx) => recordRedecision(deps, { rollout: row, rule, change, result, ...facts, trigger: 'replay', policyVersion: this.#service.policy.version, keySuffix: `replay:${facts.replay.sha256.slice(0, 12)}:${facts.replay.line}` }, trx));
    if (!updated) return undefined;
    if (result.outcome === 'allow') this.#ours.set(updated.id, false);
    return updated.id;
  }

  /** Prints a line for each of this replay's rollouts that has ended since the last look. */
  async printFinished(): Promise<{ running: number; parked: number[] }> {
    const ids = [...this.#ours].filter(([, printed]) => !printed).map(([id]) => id);
    const parked: number[] = [];
    let running = 0;
    if (ids.length === 0) return { running, parked };
    const rows = await this.#service.database.db.selectFrom('rollouts').select(['id', 'status', 'rule', 'change_number']).where('id', 'in', ids).orderBy('id').execute();
    for (const row of rows) {
      if (row.status === 'waiting') parked.push(row.id);
      if (!ENDED_STATUSES.has(row.status)) {
        running++;
        continue;
      }
      const steps = await this.#service.database.db.selectFrom('rollout_steps').select(['step_id', 'status', 'attempts']).where('rollout_id', '=', row.id).orderBy('position').orderBy('step_id').execute();
      const line: RolloutLine = { kind: 'rollout', change: row.change_number, rule: row.rule, status: row.status, steps: steps.map((s) => ({ id: s.step_id, status: s.status, attempts: s.attempts })) };
      process.stdout.write(`${JSON.stringify(line)}\n`);
      this.#ours.set(row.id, true);
    }
    return { running, parked };
  }

  /** Waits for every rollout this replay queued to end (or park at an approval gate), then for its messages. */
  async finish(): Promise<void> {
    for (;;) {
      const { running, parked } = await this.printFinished();
      if (running === parked.length) {
        for (const id of parked) process.stderr.write(`rollout #${id} waits at an approval gate; rollgate serve carries it on\n`);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const ids = this.#decided;
    if (ids.length === 0) return;
    const pending = async () => (await this.#service.database.db.selectFrom('outbox').select('id').where('rollout_id', 'in', ids).where('status', '=', 'pending').execute()).length;
    if (!this.#reports) {
      const left = await pending();
      if (left > 0) process.stderr.write(`${left} review message${left > 1 ? 's' : ''} kept in the outbox: Gerrit REST is not configured; rollgate serve posts them once it is\n`);
      return;
    }
    const deadline = Date.now() + REPORT_WAIT_MS;
    let left = await pending();
    while (left > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      left = await pending();
    }
    if (left > 0) process.stderr.write(`${left} review message${left > 1 ? 's' : ''} not yet accepted by Gerrit; kept in the outbox for rollgate serve to retry\n`);
  }

  async stop(): Promise<void> {
    await this.#service.stop();
  }
}
