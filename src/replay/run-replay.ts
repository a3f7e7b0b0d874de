import { createHash } from 'node:crypto';
import path from 'node:path';
import { loadConfig } from '../config.js';
import type { GerritAccount, GerritChange, GerritClient } from '../gerrit/gerrit-client.js';
import { GerritRestClient } from '../gerrit/gerrit-rest-client.js';
import { loadPolicy } from '../load-policy.js';
import { displayName, type CommentApproval, type DecisionResult } from '../policy/decide.js';
import { evaluateChange, whyIgnored } from '../policy/evaluate-change.js';
import { needsFiles } from '../policy/match.js';
import type { Policy, RolloutRule } from '../policy/policy-config.js';
import type { RoleGrant } from '../policy/roles.js';
import { decideWithFreshApprovals } from '../policy/start-check.js';
import { actRequestFor, relationTo, whoMayAct, type ActVerdict } from '../policy/who-may-act.js';
import { decisionLine, type DecisionLine } from './decision-line.js';
import { ExecutionSink } from './execution-sink.js';
import { fileGroups, restGroups, rolesOf } from './group-source.js';
import { EventReplay } from './replay-events.js';
import { digestOfFile, RecordingReadError, recordingLines } from './recording-file.js';
import { readLine, replayIntake } from './replay-intake.js';
import { ReplayProgress } from './replay-progress.js';

/** What `rollgate replay` was asked for besides the file (`--dry-run`, `--policies DIR`, `--groups FILE`, progress). */
export interface ReplayOptions {
  readonly dryRun: boolean;
  readonly policies: string | undefined;
  readonly groups: string | undefined;
  /** Progress lines on stderr (see ReplayProgress). */
  readonly progress: boolean;
}

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
export async function runReplay(file: string, options: ReplayOptions): Promise<number> {
  const dryRun = options.dryRun;
  const config = loadConfig();
  const policyDir = options.policies ?? config.policyDir;
  const policy = loadPolicy(policyDir);
  const rest = config.gerritRest ? new GerritRestClient(config.gerritRest) : undefined;
  const groups = options.groups !== undefined ? fileGroups(options.groups) : restGroups(rest);

  let digest: { sha256: string; bytes: number };
  try {
    // a first pass for the digest: every decision names the recording by it, from the first line on
    digest = await digestOfFile(file);
  } catch (err) {
    if (!(err instanceof RecordingReadError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
  // every decision this replay records names the recording by its digest (see ReplayOrigin)
  const recording = { file: path.resolve(file), sha256: digest.sha256 };
  // the second pass hashes what it decides from: a file changed in between is reported
  const decidedFrom = createHash('sha256');
  const progress = options.progress ? new ReplayProgress(digest.bytes) : undefined;

  // a dry run has no database to ask which rules of a change are held, so it keeps track here
  const dryHeld = new Map<string, Set<string>>();
  /** When each change merged in the recording: its votes count from then for approval.max_age. */
  const mergedAt = new Map<string, Date>();
  const sink = dryRun ? undefined : await ExecutionSink.start(config, policyDir, rest !== undefined);
  try {
    const intake = replayIntake(sink?.events, recording);
    const replay = new EventReplay();
    let good = 0;
    let bad = 0;
    const warnedNoFiles = new Set<string>();
    /** The line each event (by serve's dedup key) was first read from. */
    const firstLine = new Map<string, number>();
    let n = 0;
    const onChunk = (chunk: Buffer) => {
      decidedFrom.update(chunk);
      progress?.read(chunk.length);
    };
    for await (const line of recordingLines(file, onChunk)) {
      n++;
      const parsed = line.trim() === '' ? undefined : readLine(line);
      progress?.line(parsed?.kind === 'ok');
      if (parsed === undefined) continue;
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
          mergedAt.set(keyOf(change), step.at);
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
        if (step.kind === 'vote') {
          if (decideHere) await decideOnVote(replay, change, step.by, step.at, n);
          continue;
        }
        if (step.kind === 'deny' && !decideHere) continue;
        // as serve: each of the change's held rollouts, judged by whoMayAct for its own rule
        const held = sink ? await sink.held(change) : dryHeld.get(keyOf(change));
        for (const ruleName of held ?? []) {
          const rule = policy.rollouts.find((r) => r.name === ruleName);
          if (!rule) continue; // left the policy: serve leaves it on hold
          const who = displayName(step.by);
          const mine: CommentApproval = { account: step.by, justification: step.kind === 'approve' ? step.justification : '', givenAt: step.at };
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
          // decided at this later moment, as serve decides a held rollout again: approvals past approval.max_age no longer count
          const now = decideWithFreshApprovals({ policy, rule, change, rolesByAccount, commentApprovals, votesSince: mergedAt.get(keyOf(change)) ?? step.at, at: step.at });
          const result: DecisionResult = step.kind === 'deny' ? { ...now, outcome: 'deny', reasons: [{ code: 'denied-by-command', message: `denied by ${who}: ${step.reason}` }] } : now;
          const id = await sink?.redecide(change, rule, result, { rolesByAccount, commentApprovals, at: step.at, actor: step.by.username, replay: { ...recording, line: n } });
          if (sink && id === undefined) continue; // no longer held
          print(decisionLine(change, rule, result, policy, id, sink?.publicUrl));
        }
      }
      await sink?.printFinished();
    }
    progress?.end();
    const readNow = decidedFrom.digest('hex');
    if (readNow !== recording.sha256) {
      process.stderr.write(`${file}: changed while it was replayed: the decisions name sha256 ${recording.sha256}, the lines decided hash to ${readNow}\n`);
      return 1;
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

  /** As serve: each held rollout decided again on the votes; one they now allow starts, one still held is left as it is. */
  async function decideOnVote(replay: EventReplay, change: GerritChange, by: GerritAccount, at: Date, line: number): Promise<void> {
    const held = sink ? await sink.held(change) : dryHeld.get(keyOf(change));
    for (const ruleName of held ?? []) {
      const rule = policy.rollouts.find((r) => r.name === ruleName);
      if (!rule) continue;
      const commentApprovals = replay.approvals(change, ruleName);
      const rolesByAccount = await rolesOf(policy, groups, change, commentApprovals);
      const result = decideWithFreshApprovals({ policy, rule, change, rolesByAccount, commentApprovals, votesSince: mergedAt.get(keyOf(change)) ?? at, at });
      if (result.outcome !== 'allow') continue;
      const id = await sink?.redecide(change, rule, result, { rolesByAccount, commentApprovals, at, actor: by.username, replay: { ...recording, line } });
      if (sink && id === undefined) continue; // no longer held
      print(decisionLine(change, rule, result, policy, id, sink?.publicUrl));
    }
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
