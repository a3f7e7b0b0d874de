import { z } from 'zod';
import type { GerritAccount, GerritChange, GerritVote } from '../gerrit/gerrit-client.js';
import { AccountAttributeSchema, changesAVote, ChangeAttributeSchema, EventApprovalsSchema, PatchSetAttributeSchema, type GerritEvent } from '../gerrit/gerrit-event.js';
import { MAX_COMMANDS_PER_COMMENT, parseCommentCommands, type CommentCommand } from '../policy/comment-command.js';
import type { CommentApproval } from '../policy/decide.js';
import { shortBranch } from '../policy/match.js';

/**
 * Rebuilds the changes that recorded `gerrit stream-events` lines describe, as `GerritChange`
 * values `evaluateChange()` can decide, with no I/O: `rollgate replay` feeds events in file
 * order and gets back the moments a decision is due.
 *
 * - Votes come from `comment-added` (`author`, `approvals[]` with `value`; Gerrit lists the
 *   author's current value on each label, so the latest value wins) and `vote-deleted`
 *   (`reviewer`). They are kept per patch set: only votes given on the merged patch set count.
 *   Gerrit may copy votes to a new patch set (copy conditions); events do not say so, so a
 *   replay counts only votes given on the merged patch set itself.
 * - Owner and uploader come from the merged event's `change.owner` and `patchSet.uploader`.
 * - `/rollout approve <text>` in a comment on a merged change asks to approve at that moment, and
 *   `/rollout deny <reason>` to deny. Whether the person may is not known here (it takes their
 *   roles): the caller asks `whoMayAct` for each held rule, as serve does, and only an approval it
 *   lets count is kept for that rule (`countApproval`), as serve stores approvals per rollout; a
 *   refused one is never part of a decision. A comment is answered once: its approvals are one
 *   request (the latest justification) and its first deny once; a comment with
 *   more than MAX_COMMANDS_PER_COMMENT commands acts on none of them, as in `serve`. `retry`, `rollback` and `cancel` act on rollouts that run,
 *   which a recording cannot replay faithfully; they are not replayed.
 * - Stream events carry no account ids. People are identified by `username` (email when an
 *   account has none), and each gets a stable numeric id in order of first appearance.
 */
export type ReplayStep =
  /** A `change-merged`: decide every matching rule at `at`. */
  | { readonly kind: 'merged'; readonly change: GerritChange; readonly newRev: string | undefined; readonly at: Date; readonly filesKnown: boolean }
  /**
   * A `/rollout approve` on a merged change: each held rollout whose rule lets `by` approve
   * (`whoMayAct`) counts the approval (`countApproval`) and is decided again at `at`.
   */
  | { readonly kind: 'approve'; readonly change: GerritChange; readonly by: GerritAccount; readonly justification: string; readonly at: Date }
  /** A `/rollout deny <reason>` on a merged change: held rollouts are denied, where `whoMayAct` lets `by`. */
  | { readonly kind: 'deny'; readonly change: GerritChange; readonly by: GerritAccount; readonly reason: string; readonly at: Date }
  /** A review on a merged change that changed a vote and gave no command: held rollouts are decided again at `at`, as serve does. */
  | { readonly kind: 'vote'; readonly change: GerritChange; readonly by: GerritAccount; readonly at: Date }
  /** Something in a usable event that could not be used, in words. */
  | { readonly kind: 'problem'; readonly message: string };

const MergedExtrasSchema = z.looseObject({
  change: z.looseObject({ commitMessage: z.string().optional() }),
  patchSet: z.looseObject({ files: z.array(z.looseObject({ file: z.string() })).optional() }),
});
/** Gerrit sends `vote-deleted` when someone's vote is removed; `approvals` holds the values after. */
export const VoteDeletedEventSchema = z.looseObject({
  type: z.literal('vote-deleted'),
  change: ChangeAttributeSchema,
  patchSet: PatchSetAttributeSchema,
  reviewer: AccountAttributeSchema.optional(),
  approvals: z.unknown().optional(),
  eventCreatedOn: z.number().optional(),
});

type AccountAttribute = z.infer<typeof AccountAttributeSchema>;
/** A command replay acts on: approve or deny, with its text. */
type Acting = CommentCommand & { readonly kind: 'approve' | 'deny'; readonly text: string };

interface ChangeState {
  /** patch set → label → person key → vote */
  readonly votes: Map<number, Map<string, Map<string, GerritVote>>>;
  merged: { readonly change: Omit<GerritChange, 'votes'> } | undefined;
  /** rule → the approvals counted for its rollout of the merged revision (serve's `approvals` rows) */
  readonly approvals: Map<string, CommentApproval[]>;
}

/** The first account id handed out; Gerrit's own ids start at 1000000 too. */
const FIRST_ACCOUNT_ID = 1_000_000;

export class EventReplay {
  readonly #ids = new Map<string, number>();
  readonly #changes = new Map<string, ChangeState>();

  /**
   * Applies one parsed event (`raw` is its JSON object, for the fields rollgate's event model
   * does not keep) and returns what became due. `fallbackAt` is used when the event has no
   * `eventCreatedOn`.
   */
  apply(event: GerritEvent | z.infer<typeof VoteDeletedEventSchema>, raw: Record<string, unknown>, fallbackAt: Date): ReplayStep[] {
    const at = typeof event.eventCreatedOn === 'number' ? new Date(event.eventCreatedOn * 1000) : fallbackAt;
    switch (event.type) {
      case 'comment-added':
        return this.#comment(event.change, event.patchSet, event.author, raw.approvals, event.comment, at);
      case 'vote-deleted':
        return this.#comment(event.change, event.patchSet, event.reviewer, raw.approvals, '', at);
      case 'change-merged':
        return this.#merged(event, raw, at);
      default:
        return [];
    }
  }

  /** The account for an event's person, with its replay id; undefined when it names nobody. */
  account(attr: AccountAttribute | undefined): GerritAccount | undefined {
    const key = attr?.username ?? attr?.email;
    if (key === undefined || attr === undefined) return undefined;
    let id = this.#ids.get(key);
    if (id === undefined) {
      id = FIRST_ACCOUNT_ID + this.#ids.size;
      this.#ids.set(key, id);
    }
    return { accountId: id, username: attr.username, name: attr.name, email: attr.email };
  }

  #state(change: { project: string; number: number }): ChangeState {
    const key = `${change.project}~${change.number}`;
    let state = this.#changes.get(key);
    if (!state) {
      state = { votes: new Map(), merged: undefined, approvals: new Map() };
      this.#changes.set(key, state);
    }
    return state;
  }

  #comment(
    change: { project: string; number: number },
    patchSet: { number: number },
    author: AccountAttribute | undefined,
    rawApprovals: unknown,
    comment: string,
    at: Date,
  ): ReplayStep[] {
    const account = this.account(author);
    if (!account) return [{ kind: 'problem', message: `change ${change.number}: the event names no author username; its votes and commands are not counted` }];
    const state = this.#state(change);
    const steps: ReplayStep[] = [];
    let votesChanged = false;
    if (rawApprovals !== undefined) {
      const approvals = EventApprovalsSchema.safeParse(rawApprovals);
      if (!approvals.success) {
        steps.push({ kind: 'problem', message: `change ${change.number}: approvals: ${approvals.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` });
      } else {
        let labels = state.votes.get(patchSet.number);
        if (!labels) state.votes.set(patchSet.number, (labels = new Map()));
        const key = account.username ?? account.email!;
        votesChanged = changesAVote(approvals.data);
        for (const a of approvals.data) {
          let byPerson = labels.get(a.type);
          if (!byPerson) labels.set(a.type, (byPerson = new Map()));
          if (a.value === 0) byPerson.delete(key);
          else byPerson.set(key, { account, value: a.value });
        }
      }
    }
    if (!state.merged) return steps;
    const commands = parseCommentCommands(comment);
    if (commands.length === 0) {
      if (votesChanged) steps.push({ kind: 'vote', change: this.#current(state), by: account, at });
      return steps;
    }
    if (commands.length > MAX_COMMANDS_PER_COMMENT) {
      // as serve: a flood of commands is answered once and none of them acts
      const who = account.username ?? account.email!;
      steps.push({ kind: 'problem', message: `change ${change.number}: ${who}'s comment has ${commands.length} /rollout commands; at most ${MAX_COMMANDS_PER_COMMENT} are read from one comment, so none of them was acted on` });
      return steps;
    }
    // a comment is answered once: its approvals count together (one decision), its first deny once,
    // in the order the comment gives them first
    const approvals = commands.filter((c): c is Acting => c.kind === 'approve');
    const deny = commands.find((c): c is Acting => c.kind === 'deny');
    const approveStep = (): ReplayStep => ({ kind: 'approve', change: this.#current(state), by: account, justification: approvals.at(-1)!.text, at });
    const denyStep = (reason: string): ReplayStep => ({ kind: 'deny', change: this.#current(state), by: account, reason, at });
    const approveFirst = approvals.length > 0 && (deny === undefined || commands.indexOf(approvals[0]!) < commands.indexOf(deny));
    if (approveFirst) steps.push(approveStep());
    if (deny) steps.push(denyStep(deny.text));
    if (approvals.length > 0 && !approveFirst) steps.push(approveStep());
    return steps;
  }

  #merged(event: Extract<GerritEvent, { type: 'change-merged' }>, raw: Record<string, unknown>, at: Date): ReplayStep[] {
    const owner = this.account(event.change.owner);
    if (!owner) return [{ kind: 'problem', message: `change ${event.change.number}: change.owner has no username, so self-approval cannot be checked; not decided` }];
    const extras = MergedExtrasSchema.safeParse(raw);
    const files = extras.success ? extras.data.patchSet.files?.map((f) => f.file).filter((f) => !f.startsWith('/')) : undefined;
    const state = this.#state(event.change);
    state.merged = {
      change: {
        project: event.change.project,
        branch: shortBranch(event.change.branch),
        number: event.change.number,
        subject: event.change.subject,
        status: 'MERGED',
        owner,
        currentRevision: event.patchSet.revision,
        currentPatchSet: event.patchSet.number,
        // Gerrit fills uploader in; a recording without it treats the owner as the uploader
        uploader: this.account(event.patchSet.uploader) ?? owner,
        commitMessage: (extras.success ? extras.data.change.commitMessage : undefined) ?? '',
        files: files ?? [],
      },
    };
    // approvals given by comment before this merge approved nothing: there was no rollout yet
    state.approvals.clear();
    return [{ kind: 'merged', change: this.#current(state), newRev: event.newRev, at, filesKnown: files !== undefined }];
  }

  /** The approvals counted so far for `rule`'s rollout of the change's merged revision. */
  approvals(change: { project: string; number: number }, rule: string): readonly CommentApproval[] {
    return [...(this.#state(change).approvals.get(rule) ?? [])];
  }

  /**
   * Counts an approval for `rule`'s rollout of the merged change, once `whoMayAct` let the person
   * approve it (the caller's check, as serve stores only those). One approval per person: a later
   * one replaces the earlier, so no reason is repeated. Returns the rule's approvals now.
   */
  countApproval(change: { project: string; number: number }, rule: string, approval: CommentApproval): readonly CommentApproval[] {
    const state = this.#state(change);
    const others = (state.approvals.get(rule) ?? []).filter((a) => a.account.accountId !== approval.account.accountId);
    state.approvals.set(rule, [...others, approval]);
    return this.approvals(change, rule);
  }

  /** The merged change with the votes on its merged patch set as they stand now. */
  #current(state: ChangeState): GerritChange {
    const base = state.merged!.change;
    const labels = state.votes.get(base.currentPatchSet) ?? new Map<string, Map<string, GerritVote>>();
    const votes: Record<string, GerritVote[]> = {};
    for (const [label, byPerson] of labels) if (byPerson.size > 0) votes[label] = [...byPerson.values()];
    return { ...base, votes };
  }
}
