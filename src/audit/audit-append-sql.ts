import { sql, type RawBuilder } from 'kysely';
import { contentAroundId } from './audit-chain.js';
import type { AuditAppendSql, AuditEvent } from './audit-trail.js';
import { toStorable } from './canonical-json.js';
import { storableText } from '../db/storable-text.js';

/** The SQL that appends `event` at `at`: its hash is sha256 over the previous hash, a newline and the canonical content, as `entryHash` computes it. */
export function auditAppendSql(event: AuditEvent, at: Date): AuditAppendSql {
  const content = {
    at: at.toISOString(),
    kind: event.kind,
    actor: storableText(event.actor),
    rolloutId: event.rolloutId ?? null,
    project: event.project == null ? null : storableText(event.project),
    changeNumber: event.changeNumber ?? null,
    summary: storableText(event.summary),
    // hashed as it will read back from jsonb
    data: toStorable(event.data),
  };
  const { before, after } = contentAroundId(content);
  return {
    next: (when) => sql<object>`(update audit_head
      set last_id = last_id + 1, prev_hash = last_hash,
        last_hash = encode(sha256(convert_to(last_hash || chr(10) || ${before}::text || (last_id + 1)::text || ${after}::text, 'UTF8')), 'hex')
      where ${when}
      returning last_id, last_hash, prev_hash)`,
    row: (when) => sql<object>`(insert into audit_log (id, at, kind, actor, rollout_id, project, change_number, summary, data, prev_hash, hash)
      select n.last_id, ${content.at}::timestamptz, ${content.kind}, ${content.actor}, ${content.rolloutId}, ${content.project}, ${content.changeNumber}, ${content.summary}, ${JSON.stringify(content.data)}::jsonb, n.prev_hash, n.last_hash
      from (select 1) as one left join audit_next as n on true
      where ${when}
      returning id)`,
  };
}
