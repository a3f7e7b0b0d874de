import type { RecordedHead } from './audit-chain.js';

/**
 * The audit head rollgate puts as the last line of every review message it posts: the newest
 * audit row's id and hash when the message went out. Gerrit keeps messages in its own history,
 * where rollgate's database user cannot reach, so `rollgate audit verify --from-gerrit` can later
 * check that each posted row is still in the trail with that hash. The form is the one
 * `audit verify --head` takes.
 */
export const AUDIT_HEAD_PREFIX = 'rollgate-audit: ';

export function auditHeadLine(head: RecordedHead): string {
  return `${AUDIT_HEAD_PREFIX}${head.id}:${head.hash}`;
}

/** `message` with the head as its last line, after a blank line. */
export function withAuditHead(message: string, head: RecordedHead | undefined): string {
  return head ? `${message}\n\n${auditHeadLine(head)}` : message;
}

const HEAD_LINE = /^rollgate-audit: (\d+):([0-9a-f]{64})$/gm;

/** Every head line in a message as Gerrit shows it (it may prefix "Patch Set N:"). */
export function auditHeadsIn(message: string): RecordedHead[] {
  return [...message.matchAll(HEAD_LINE)].map((m) => ({ id: Number(m[1]), hash: m[2]! }));
}
