import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { loadConfig, type Config } from '../config.js';
import { displayName, type CommentApproval, type DecisionResult } from '../policy/decide.js';
import { actRequestFor, relationTo, whoMayAct, type ActVerdict } from '../policy/who-may-act.js';
import { evaluateChange, votersOf, whyIgnored } from '../policy/evaluate-change.js';
import { loadPolicy } from '../load-policy.js';
import { needsFiles } from '../policy/match.js';
import type { Policy, RolloutRule } from '../policy/policy-config.js';
import { DecisionLog, type ReplayOrigin } from '../rollouts/decision-log.js';
import { recordMergeDecision, recordRedecision, rolloutKey } from '../actions/record-decision.js';
import { EventReplay, VoteDeletedEventSchema, type ReplayStep } from '../decide/replay-events.js';
import { rolesForGroups, type RoleGrant } from '../policy/roles.js';
import { RollgateError, GerritError } from '../errors.js';
import { RolloutStore } from '../rollouts/rollout-store.js';
import type { GerritAccount, GerritChange, GerritClient, GerritGroup } from '../gerrit/gerrit-client.js';
import { parseEventLine } from '../gerrit/gerrit-event.js';
import { GerritRestClient } from '../gerrit/gerrit-rest-client.js';
import { silentLogger } from '../log.js';
import { denyMessage, holdMessage, startedMessage, type RolloutSummary } from '../messages/format-message.js';
import { OutboxStore } from '../messages/outbox-store.js';
import { EventStore } from '../rollouts/event-store.js';
import { Intake } from '../intake/intake.js';
import { startService, type RunningService } from '../service.js';
import { parseCommandArgs, UsageError } from './cli-args.js';
import { readYamlFile } from '../read-yaml-file.js';

/** One line of `rollgate replay` output per decision (the shape issue 4 fixes). */
export interface DecisionLine {
  readonly kind: 'decision';
  readonly change: number;
  readonly project: string;
  readonly rule: string | null;
  readonly decision: 'allow' | 'hold' | 'deny' | 'ignore';
  readonly approvers: ReadonlyArray<{ readonly account: string; readonly roles: readonly string[] }>;
  readonly reasons: readonly string[];
  /** The review message rollgate posts for this decision; null when it posts none (ignore). */
  readonly comment: string | null;
}

/** One line per rollout that ran, when it ends. */
export interface RolloutLine {
  readonly kind: 'rollout';
  readonly change: number;
  readonly rule: string;
  readonly status: string;
  readonly steps: ReadonlyArray<{ readonly id: string; readonly status: string; readonly attempts: number }>;
}

/** `--groups FILE`: group name → usernames, for replays without (or apart from) a Gerrit. */
const GroupsFileSchema = z.strictObject({ groups: z.record(z.string().min(1), z.array(z.string().min(1)).default([])) });

/** Where the Gerrit groups of a person come from. */
interface GroupSource {
  groupsOf(account: GerritAccount): Promise<readonly GerritGroup[]>;
}

const FINAL = new Set(['succeeded', 'failed', 'rolled_back', 'cancelled', 'superseded']);
/** How long replay waits for its review messages to reach Gerrit before leaving them to `serve`. */
const REPORT_WAIT_MS = 30_000;

/**
 * `rollgate replay <events.jsonl> [--dry-run] [--policies DIR] [--groups FILE]`: decides recorded
 * stream events exactly as `serve` would have when they happened, and (without `--dry-run`)
 * runs the allowed rollouts through the real execute and report stages.
 *
 * Decisions come from the events themselves (see `EventReplay`), each `change-merged` judged at
 * its `eventCreatedOn`, through the one `evaluateChange()`. Each line first goes through serve's
 * intake (`Intake.add`, the same dedup key): a repeat of an earlier line is not decided again, and
 * an event rollgate already received counts as a fact but is not decided again either. Recorded
 * decisions are audited with trigger 'replay' and the file's sha256 and line. Execution reuses `startService`:
 * replay records each decided rollout in the configured database with the same rollout key as
 * `serve` (rule + change + merged revision), so a revision `serve` already rolled out is not
 * rolled out again; the service's runner executes the queued ones and its reporter posts the
 * messages when Gerrit REST is configured. The service is started without the SSH stream and on
 * an ephemeral loopback port.
 */
export async function replayCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('replay', args, {
    'dry-run': { type: 'boolean', default: false },
    policies: { type: 'string' },
    groups: { type: 'string' },
  });
  if (positionals.length !== 1) throw new UsageError('rollgate replay: give one events file: rollgate replay <events.jsonl> [--dry-run] [--policies DIR] [--groups FILE]');
  const file = positionals[0]!;
  const dryRun = values['dry-run'] === true;
  const config = loadConfig();
  const policyDir = values.policies ?? config.policyDir;
  const policy = loadPolicy(policyDir);
  const rest = config.gerritRest ? new GerritRestClient(config.gerritRest) : undefined;
  const groups = values.groups !== undefined ? fileGroups(values.groups) : restGroups(rest);

  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    process.stderr.write(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    return 1;
  }
  // every decision this replay records names the recording by its digest (see ReplayOrigin)
  const recording = { file: path.resolve(file), sha256: createHash('sha256').update(bytes).digest('hex') };
  const lines = bytes.toString('utf8').split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.at(-1) === '') lines.pop();

  // a dry run has no database to ask which rules of a change are held, so it keeps track here
  const dryHeld = new Map<string, Set<string>>();
  const sink = dryRun ? undefined : await ExecutionSink.start(config, policyDir, rest !== undefined);
  try {
    const intake = replayIntake(sink?.events, recording);
    const replay = new EventReplay();
    let good = 0;
    let bad = 0;
    const warnedNoFiles = new Set<string>();
    /** The line each event (by serve's dedup key) was first read from. */
    const firstLine = new Map<string, number>();
    for (const [i, line] of lines.entries()) {
      const n = i + 1;
      if (line.trim() === '') continue;
      const parsed = readLine(line);
      // every line goes through serve's intake: stored (a bad one as rejected), and keyed for dedup
      const received = await intake.add(line, 'replay');
      if (parsed.kind === 'bad') {
        bad++;
        process.stderr.write(`line ${n}: ${parsed.problem}\n`);
        continue;
      }
      good++;
      const first = firstLine.get(received.row.dedup_key);
      if (first !== undefined) {
        process.stderr.write(`line ${n}: the same event as line ${first}; not decided again\n`);
        continue;
      }
      firstLine.set(received.row.dedup_key, n);
      const steps = parsed.apply(replay);
      // serve (or an earlier replay) has this event: it was decided and answered there; what it
      // says still counts here (its votes, and its approvals where whoMayAct lets them count)
      const decideHere = received.stored;
      if (!decideHere) process.stderr.write(`line ${n}: rollgate received this event before; its votes and approvals count, but it is not decided again\n`);
      for (const step of steps) {
        if (step.kind === 'problem') {
          process.stderr.write(`line ${n}: ${step.message}\n`);
          continue;
        }
        let change = step.change;
        if (step.kind === 'merged') {
          if (!decideHere) continue;
          if (!step.filesKnown && needsFiles(policy.rollouts)) change = await withFilesFromRest(change, rest, n, warnedNoFiles);
          const rolesByAccount = await rolesOf(policy, groups, change, []);
          const decisions = evaluateChange({ policy, change, rolesByAccount, at: step.at });
          if (decisions.length === 0) {
            print({ kind: 'decision', change: change.number, project: change.project, rule: null, decision: 'ignore', approvers: [], reasons: [whyIgnored(policy, change)], comment: null });
            continue;
          }
          for (const { rule, result } of decisions) {
            const id = await sink?.record(rule, change, step.newRev, result, { rolesByAccount, at: step.at, replay: { ...recording, line: n } });
            print(decisionLine(change, rule, result, policy, id, sink?.publicUrl));
          }
          continue;
        }
        if (step.kind === 'deny' && !decideHere) continue;
        // as serve: each of the change's held rollouts, judged by whoMayAct for its own rule
        const held = sink ? await sink.held(change) : dryHeld.get(keyOf(change));
        for (const ruleName of held ?? []) {
          const rule = policy.rollouts.find((r) => r.name === ruleName);
          if (!rule) continue; // left the policy: serve leaves it on hold
          const who = displayName(step.by);
          const mine: CommentApproval = { account: step.by, justification: step.kind === 'approve' ? step.justification : '' };
          const counted = replay.approvals(change, ruleName);
          const rolesByAccount = await rolesOf(policy, groups, change, [...counted, mine]);
          // anyone whose approval could not count (no role that helps, their own change where the rule
          // forbids that), or who may not deny, changes nothing: their text is no part of any decision
          const verdict = judge(step.kind, rule, change, step.by, rolesByAccount, policy);
          if (!verdict.allowed) {
            if (decideHere) process.stderr.write(`line ${n}: change ${change.number}: ${verdict.message}\n`);
            continue;
          }
          const commentApprovals = step.kind === 'approve' ? replay.countApproval(change, ruleName, mine) : counted;
          if (!decideHere) continue;
          const [decision] = evaluateChange({ policy, change, rolesByAccount, commentApprovals, at: step.at, onlyRule: ruleName });
          if (!decision) continue;
          const result: DecisionResult =
            step.kind === 'deny' ? { ...decision.result, outcome: 'deny', reasons: [{ code: 'denied-by-command', message: `denied by ${who}: ${step.reason}` }] } : decision.result;
          const id = await sink?.redecide(change, decision.rule, result, { rolesByAccount, commentApprovals, at: step.at, actor: step.by.username, replay: { ...recording, line: n } });
          if (sink && id === undefined) continue; // no longer held
          print(decisionLine(change, decision.rule, result, policy, id, sink?.publicUrl));
        }
      }
      await sink?.printFinished();
    }
    if (good === 0 && bad > 0) {
      process.stderr.write(`${file}: no readable event in ${bad} line${bad > 1 ? 's' : ''}\n`);
      return 1;
    }
    if (bad > 0) process.stderr.write(`${file}: ${bad} line${bad > 1 ? 's' : ''} skipped\n`);
    await sink?.finish();
    return 0;
  } finally {
    await sink?.stop();
  }

  function print(line: DecisionLine): void {
    if (dryRun && line.rule !== null) {
      const set = dryHeld.get(`${line.project}~${line.change}`) ?? new Set<string>();
      if (line.decision === 'hold') set.add(line.rule);
      else set.delete(line.rule);
      dryHeld.set(`${line.project}~${line.change}`, set);
    }
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
}
const keyOf = (c: { project: string; number: number }) => `${c.project}~${c.number}`;

/**
 * whoMayAct on a held rollout of `rule`, for a recorded `/rollout approve` or `/rollout deny`: the
 * question serve's comment commands ask (`rollout-actions.ts`), with the person's roles from the
 * replay's group source and their relation to the merged change. A dry run has no rollout row, so
 * refusals name the rule.
 */
function judge(verb: 'approve' | 'deny', rule: RolloutRule, change: GerritChange, by: GerritAccount, rolesByAccount: ReadonlyMap<number, readonly RoleGrant[]>, policy: Policy): ActVerdict {
  // as serve: stopping a rollout is never self-approval, so a deny does not ask who wrote the change
  const relation = verb === 'deny' ? 'unknown' : relationTo(change, by.accountId);
  const actor = { display: displayName(by), relation, roles: (rolesByAccount.get(by.accountId) ?? []).map((g) => g.role) };
  return whoMayAct(actRequestFor(policy, { rule: rule.name, status: 'held', workflow: rule.workflow }, [], { verb, source: 'comment', actor }));
}

/** A line read as an event, and how to apply it to the replay once it is known to be new. */
function readLine(line: string): { kind: 'bad'; problem: string } | { kind: 'ok'; apply: (replay: EventReplay) => ReplayStep[] } {
  const parsed = parseEventLine(line);
  if (parsed.kind === 'invalid') return { kind: 'bad', problem: parsed.reason };
  if (parsed.kind === 'event') return { kind: 'ok', apply: (replay) => replay.apply(parsed.event, parsed.value, new Date()) };
  if (parsed.type === 'vote-deleted') {
    const deleted = VoteDeletedEventSchema.safeParse(parsed.value);
    if (!deleted.success) return { kind: 'bad', problem: `vote-deleted event: ${deleted.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
    return { kind: 'ok', apply: (replay) => replay.apply(deleted.data, parsed.value, new Date()) };
  }
  return { kind: 'ok', apply: () => [] }; // other event types do not bear on decisions
}

/**
 * serve's intake (same rows, same dedup keys) for the replayed lines. With a database, the lines
 * are stored in its `events` table; an event this replay decides is stored as processed, by the
 * replay, so serve's decide loop never decides it a second time from Gerrit. A dry run writes no
 * database: the keys are kept in memory, so a repeat within the file is still found.
 */
function replayIntake(events: EventStore | undefined, recording: { file: string; sha256: string }): Intake {
  const seen = new Set<string>();
  const inMemory: Pick<EventStore, 'insertNew'> = {
    insertNew: async (rows) => {
      const fresh = new Set(rows.map((r) => r.dedup_key).filter((key) => !seen.has(key)));
      for (const key of fresh) seen.add(key);
      return fresh;
    },
  };
  const decidedHere: Pick<EventStore, 'insertNew'> | undefined = events && {
    insertNew: (rows) =>
      events.insertNew(
        rows.map((r) => (r.status === 'pending' ? { ...r, status: 'processed', reason: `decided by rollgate replay of ${recording.file} (sha256 ${recording.sha256})`, processed_at: r.received_at } : r)),
      ),
  };
  return new Intake({ store: decidedHere ?? inMemory, logger: silentLogger(), settleMs: 0, onStored: () => {} });
}

/** `rolloutId` is undefined in a dry run: no rollout exists, so the message quotes none. */
function decisionLine(change: GerritChange, rule: RolloutRule, result: DecisionResult, policy: Policy, rolloutId: number | undefined, publicUrl: string | undefined): DecisionLine {
  const summary: RolloutSummary = {
    id: rolloutId ?? 0,
    rule: rule.name,
    environment: rule.environment,
    workflow: rule.workflow,
    reasons: result.reasons,
    approvers: result.approvers,
    justification: result.justification ?? null,
    link: rolloutId !== undefined && publicUrl ? `${publicUrl.replace(/\/+$/, '')}/api/rollouts/${rolloutId}` : undefined,
  };
  const steps = policy.workflows[rule.workflow]?.steps.map((s) => s.id) ?? [];
  let comment = result.outcome === 'allow' ? startedMessage(summary, steps) : result.outcome === 'hold' ? holdMessage(summary) : denyMessage(summary);
  if (rolloutId === undefined) comment = comment.replaceAll('rollout #0', 'dry run');
  return {
    kind: 'decision',
    change: change.number,
    project: change.project,
    rule: rule.name,
    decision: result.outcome,
    approvers: result.approvers.map((a) => ({ account: a.display, roles: [...a.roles] })),
    reasons: result.reasons.map((r) => r.message),
    comment,
  };
}

async function rolesOf(policy: Policy, groups: GroupSource, change: GerritChange, commentApprovals: readonly CommentApproval[]): Promise<Map<number, readonly RoleGrant[]>> {
  const people = new Map<number, GerritAccount>();
  const voterIds = new Set(votersOf(policy, change));
  for (const votes of Object.values(change.votes)) for (const v of votes) if (voterIds.has(v.account.accountId)) people.set(v.account.accountId, v.account);
  for (const a of commentApprovals) people.set(a.account.accountId, a.account);
  const roles = new Map<number, readonly RoleGrant[]>();
  for (const [id, account] of people) roles.set(id, rolesForGroups(policy.roles, await groups.groupsOf(account)));
  return roles;
}

function fileGroups(file: string): GroupSource {
  const read = readYamlFile(file, GroupsFileSchema);
  if (!read.ok) throw new ReplayInputError(read.problems.join('\n'));
  const byUser = new Map<string, GerritGroup[]>();
  for (const [group, users] of Object.entries(read.value.groups)) {
    for (const user of users) byUser.set(user, [...(byUser.get(user) ?? []), { id: group, name: group }]);
  }
  return { groupsOf: async (a) => byUser.get(a.username ?? a.email ?? '') ?? [] };
}

function restGroups(rest: GerritClient | undefined): GroupSource {
  if (!rest) {
    throw new ReplayInputError(
      'rollgate replay needs group membership: give --groups FILE (YAML "groups: { <group>: [username, ...] }"), ' +
        'or configure Gerrit REST (GERRIT_URL, GERRIT_HTTP_USER, GERRIT_HTTP_PASSWORD_FILE) to read it from Gerrit',
    );
  }
  const cache = new Map<string, Promise<readonly GerritGroup[]>>();
  const lookup = async (user: string): Promise<readonly GerritGroup[]> => {
    try {
      return await rest.getAccountGroups((await rest.getAccount(user)).accountId);
    } catch (err) {
      // someone Gerrit no longer knows holds no group now
      if (err instanceof GerritError && err.httpStatus === 404) return [];
      throw err;
    }
  };
  return {
    groupsOf: (a) => {
      const user = a.username ?? a.email ?? '';
      let found = cache.get(user);
      if (!found) cache.set(user, (found = lookup(user)));
      return found;
    },
  };
}

async function withFilesFromRest(change: GerritChange, rest: GerritClient | undefined, line: number, warned: Set<string>): Promise<GerritChange> {
  if (rest) {
    const live = await rest.getChange(change.project, change.number);
    if (live.currentRevision === change.currentRevision) return { ...change, files: live.files };
  }
  if (!warned.has(keyOf(change))) {
    warned.add(keyOf(change));
    process.stderr.write(`line ${line}: change ${change.number}: the events carry no file list${rest ? ' and Gerrit REST shows another revision' : ' and Gerrit REST is not configured'}, so rules with "paths" do not match it\n`);
  }
  return change;
}

/** A problem with what replay was given (groups file, missing Gerrit); printed as is, exit 1. */
class ReplayInputError extends RollgateError {
  override readonly code = 'replay_input';
}

/**
 * Without `--dry-run`: the running pipeline (database, runner, reporter) that replayed
 * decisions are written to, and the rollouts it ran.
 */
class ExecutionSink {
  readonly #service: RunningService;
  readonly #rollouts: RolloutStore;
  readonly #outbox: OutboxStore;
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
    this.#outbox = new OutboxStore(service.database.db);
    this.#decisions = new DecisionLog(service.database.db, service.audit);
    this.events = new EventStore(service.database.db);
    this.publicUrl = publicUrl;
    this.#reports = reports;
  }

  static async start(config: Config, policyDir: string, reports: boolean): Promise<ExecutionSink> {
    // the stream is never started: the recorded file is the only intake of this run
    const service = await startService({ ...config, policyDir, port: 0, host: '127.0.0.1', gerritSsh: undefined }, silentLogger(), { idleMs: 50 });
    return new ExecutionSink(service, config.publicUrl, reports);
  }

  /** Records a decided rollout once per rule and merged revision, as `serve` does. */
  /** Returns the rollout's id (an existing one's when this merged revision was decided before). */
  async record(rule: RolloutRule, change: GerritChange, newRev: string | undefined, result: DecisionResult, facts: { rolesByAccount: ReadonlyMap<number, readonly RoleGrant[]>; at: Date; replay: ReplayOrigin }): Promise<number | undefined> {
    const policy = this.#service.policy;
    const deps = { db: this.#service.database.db, rollouts: this.#rollouts, decisions: this.#decisions, outbox: this.#outbox, publicUrl: this.publicUrl };
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
    const deps = { rollouts: this.#rollouts, decisions: this.#decisions, outbox: this.#outbox, publicUrl: this.publicUrl };
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
      if (!FINAL.has(row.status)) {
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

