import { sql, type Kysely } from 'kysely';

/**
 * One row that holds the audit trail's newest id and hash (`last_id`, `last_hash`) and the hash
 * before it (`prev_hash`). An append updates it and inserts the row it describes in one statement:
 * the row lock serialises appenders, and PostgreSQL re-reads a row updated while it waited, so each
 * append sees the one before it without an advisory lock or a second statement. It starts from
 * the trail as it is.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create table audit_head (
    one boolean primary key default true check (one),
    last_id bigint not null,
    last_hash text not null,
    prev_hash text not null
  )`.execute(db);
  await sql`insert into audit_head (last_id, last_hash, prev_hash)
    select coalesce(last.id, 0), coalesce(last.hash, ${'0'.repeat(64)}), coalesce(last.prev_hash, ${'0'.repeat(64)})
    from (select 1) as one left join lateral (select id, hash, prev_hash from audit_log order by id desc limit 1) as last on true`.execute(db);
  // without its row no append can happen: only the owner (who may drop the trigger) can take it away
  await sql`create trigger audit_head_kept before delete or truncate on audit_head for each statement execute function audit_log_refuse_change()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table audit_head`.execute(db);
}
