/**
 * A review message as rollgate wrote it, without the audit head the reporter adds as its last
 * line (`rollgate-audit: ID:HASH`, see src/audit/audit-head-line.ts), for tests that compare a
 * message's text exactly.
 */
export function withoutAuditHead(message: string): string {
  return message.replace(/\n\nrollgate-audit: \d+:[0-9a-f]{64}$/, '');
}
