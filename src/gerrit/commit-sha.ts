/** A full git commit sha as Gerrit writes it: 40 lowercase hex digits. */
export const COMMIT_SHA = /^[0-9a-f]{40}$/;

export function isCommitSha(value: string): boolean {
  return COMMIT_SHA.test(value);
}

/**
 * Why a rollout's revisions may not be handed to a step, or undefined when both are full commit
 * shas. Checked where a workflow starts, so nothing but a sha ever reaches argv or the environment
 * (ROLLGATE_REVISION, ROLLGATE_NEW_REV, `${revision}`, `${newRev}`), whatever wrote the row.
 */
export function revisionProblem(rollout: { readonly revision: string; readonly new_rev: string | null }): string | undefined {
  if (!isCommitSha(rollout.revision)) return `the rollout's revision ${JSON.stringify(rollout.revision.slice(0, 80))} is not a 40-character commit sha; nothing was run`;
  if (rollout.new_rev !== null && !isCommitSha(rollout.new_rev)) return `the rollout's newRev ${JSON.stringify(rollout.new_rev.slice(0, 80))} is not a 40-character commit sha; nothing was run`;
  return undefined;
}
