/**
 * What rollgate asks of Gerrit, declared as the few calls it makes. The REST implementation is
 * in `gerrit-rest-client.ts`; tests point it at a real Gerrit or an in-process REST double.
 */
export interface GerritAccount {
  readonly accountId: number;
  readonly username?: string | undefined;
  readonly name?: string | undefined;
  readonly email?: string | undefined;
}

export interface GerritVote {
  readonly account: GerritAccount;
  readonly value: number;
}

/** A change as rollgate needs it for a decision, read fresh from REST. */
export interface GerritChange {
  readonly project: string;
  /** Short branch name (`main`), as REST reports it. */
  readonly branch: string;
  readonly number: number;
  readonly subject: string;
  readonly status: 'NEW' | 'MERGED' | 'ABANDONED';
  readonly owner: GerritAccount;
  readonly currentRevision: string;
  readonly currentPatchSet: number;
  readonly uploader: GerritAccount | undefined;
  readonly commitMessage: string;
  /** Paths the current patch set touched. */
  readonly files: readonly string[];
  /** Votes on the current patch set, by label; zero votes (placeholders) are left out. */
  readonly votes: Readonly<Record<string, readonly GerritVote[]>>;
  /** When Gerrit merged it (REST `submitted`); undefined while it is not merged. */
  readonly submitted?: Date | undefined;
}

/** A commit of a project as REST shows it, to confirm what a merge put on a branch. */
export interface GerritCommit {
  readonly sha: string;
  readonly parents: readonly string[];
}

export interface GerritGroup {
  /** The group's UUID. */
  readonly id: string;
  readonly name: string;
}

/** A message on a change (a review's cover message) as REST lists it; Gerrit's own have no author. */
export interface ChangeMessage {
  /** Gerrit's id of the message, unique on the change. */
  readonly id: string;
  readonly authorAccountId: number | undefined;
  readonly date: Date;
  readonly message: string;
}

export interface ReviewInput {
  readonly message: string;
  readonly tag: string;
  /** Votes to set with the message, label → value (rollgate's readiness vote). */
  readonly labels?: Readonly<Record<string, number>> | undefined;
  readonly notify?: 'NONE' | 'OWNER' | 'OWNER_REVIEWERS' | 'ALL';
}

/** A merged change as a query lists it: enough to synthesize its change-merged event. */
export interface MergedChangeRef {
  readonly project: string;
  readonly branch: string;
  readonly number: number;
  readonly changeId: string;
  readonly subject: string;
  readonly currentRevision: string;
  readonly currentPatchSet: number;
  readonly submitted: Date;
}

export interface GerritClient {
  /** Every change merged at or after `since`, following Gerrit's paging to the end. */
  queryMergedSince(since: Date): Promise<readonly MergedChangeRef[]>;
  getChange(project: string, changeNumber: number): Promise<GerritChange>;
  /** The projects holding a change with this number (one on a normal server; none when unknown). */
  findChangeProjects(changeNumber: number): Promise<readonly string[]>;
  /** Looks an account up by username, email or id (comment events name people, not account ids). */
  getAccount(user: string): Promise<GerritAccount>;
  getAccountGroups(accountId: number): Promise<readonly GerritGroup[]>;
  /** The change's messages (review comments' cover messages), oldest first. */
  getChangeMessages(project: string, changeNumber: number): Promise<readonly ChangeMessage[]>;
  /** The commit, or undefined when the project has no such commit (or rollgate may not see it). */
  getCommit(project: string, sha: string): Promise<GerritCommit | undefined>;
  /** Short names of the project's branches that contain the commit. */
  branchesContaining(project: string, sha: string): Promise<readonly string[]>;
  postReview(project: string, changeNumber: number, revision: string, review: ReviewInput): Promise<void>;
}
