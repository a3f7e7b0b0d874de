import { isCommitSha } from '../gerrit/commit-sha.js';
import type { GerritChange, GerritClient } from '../gerrit/gerrit-client.js';

/** The commit a merge put on the branch (`newRev`), and how it was established. */
export interface MergedRevision {
  readonly newRev: string;
  /** Why an event's newRev was not taken, for the event's outcome; undefined when it was (or there was none). */
  readonly refused?: string | undefined;
}

/**
 * The branch commit of a merged change, from Gerrit REST. For a merged change the current
 * revision IS the merged patch set, and for fast-forward, rebase and cherry-pick submits it is
 * also the commit on the branch. Only a merge-commit submit puts another commit there, which REST
 * cannot list; so an event's `newRev` (a hint: a webhook body can say anything) is taken only if
 * REST shows that commit in the project, on the change's branch, as a merge whose non-first
 * parent is the merged patch set. Anything else runs the merged patch set.
 */
export async function mergedRevision(gerrit: Pick<GerritClient, 'getCommit' | 'branchesContaining'>, change: GerritChange, hint: string | undefined): Promise<MergedRevision> {
  const merged = change.currentRevision;
  if (hint === undefined || hint === merged) return { newRev: merged };
  const refuse = (why: string) => ({ newRev: merged, refused: `the event's newRev ${JSON.stringify(hint.slice(0, 80))} ${why}; ${merged} (the merged patch set) is run` });
  if (!isCommitSha(hint)) return refuse('is not a commit sha');
  const commit = await gerrit.getCommit(change.project, hint);
  if (!commit) return refuse(`is not a commit of ${change.project} in Gerrit`);
  if (!commit.parents.slice(1).includes(merged)) return refuse(`is not a merge of patch set ${change.currentPatchSet}`);
  const branches = await gerrit.branchesContaining(change.project, hint);
  if (!branches.includes(change.branch)) return refuse(`is not on branch ${change.branch}`);
  return { newRev: hint };
}
