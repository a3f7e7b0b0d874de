import type { DoubleAccount, DoubleChange } from './rest-gerrit-double.js';

/** Accounts used across pipeline tests, in real Gerrit's AccountInfo shape. */
export const alice: DoubleAccount = { _account_id: 1000001, username: 'alice', name: 'Alice Ops', email: 'alice@example.com' };
export const bob: DoubleAccount = { _account_id: 1000002, username: 'bob', name: 'Bob Dev', email: 'bob@example.com' };
export const carol: DoubleAccount = { _account_id: 1000003, username: 'carol', name: 'Carol', email: 'carol@example.com' };

export const GROUPS = {
  sre: { id: 'b1e3c0f5a0e14c1f9d1e6f1a2b3c4d5e6f708192', name: 'sre' },
  developers: { id: 'c2f4d1a6b1f25d2a0e2f7a2b3c4d5e6f70819203', name: 'developers' },
} as const;

let nextRevision = 0x1000;

/** A merged change owned and uploaded by `owner`, with a fresh revision sha. */
export function mergedChange(number: number, owner: DoubleAccount, patch: Partial<DoubleChange> = {}): DoubleChange {
  const revision = (nextRevision++).toString(16).padStart(40, 'a');
  return {
    project: 'payments/api',
    branch: 'main',
    number,
    subject: `Change ${number}`,
    status: 'MERGED',
    owner,
    uploader: owner,
    revision,
    patchSet: 1,
    commitMessage: `Change ${number}\n\nChange-Id: I${revision}\n`,
    files: ['src/app.ts'],
    votes: {},
    ...patch,
  };
}

/** The change-merged stream event Gerrit emits for `change` (shape from Gerrit 3.10's stream-events). */
export function changeMergedEvent(change: DoubleChange, submitter: DoubleAccount = alice): Record<string, unknown> {
  const account = (a: DoubleAccount) => ({ name: a.name, email: a.email, username: a.username });
  return {
    submitter: account(submitter),
    newRev: change.revision,
    patchSet: {
      number: change.patchSet,
      revision: change.revision,
      parents: ['0'.repeat(40)],
      ref: `refs/changes/${String(change.number % 100).padStart(2, '0')}/${change.number}/${change.patchSet}`,
      uploader: account(change.uploader),
      createdOn: 1763884800,
      author: account(change.owner),
      kind: 'REWORK',
      sizeInsertions: 1,
      sizeDeletions: 0,
    },
    change: {
      project: change.project,
      branch: change.branch,
      id: `I${change.revision}`,
      number: change.number,
      subject: change.subject,
      owner: account(change.owner),
      url: `http://gerrit.example/c/${change.project}/+/${change.number}`,
      commitMessage: change.commitMessage,
      createdOn: 1763884800,
      status: 'MERGED',
    },
    project: change.project,
    refName: `refs/heads/${change.branch}`,
    changeKey: { id: `I${change.revision}` },
    type: 'change-merged',
    eventCreatedOn: 1763884900,
  };
}

/** The comment-added stream event for a review comment by `author` (Gerrit prefixes "Patch Set N:"). */
export function commentAddedEvent(change: DoubleChange, author: DoubleAccount, text: string): Record<string, unknown> {
  const merged = changeMergedEvent(change, author);
  return {
    type: 'comment-added',
    change: merged.change,
    patchSet: merged.patchSet,
    author: { name: author.name, email: author.email, username: author.username },
    approvals: [{ type: 'Code-Review', description: 'Code-Review', value: '0' }],
    comment: `Patch Set ${change.patchSet}:\n\n${text}`,
    project: change.project,
    refName: `refs/heads/${change.branch}`,
    changeKey: merged.changeKey,
    eventCreatedOn: 1763885000,
  };
}
