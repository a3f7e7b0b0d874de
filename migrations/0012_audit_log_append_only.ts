import { sql, type Kysely } from 'kysely';

/**
 * Makes `audit_log` append-only in the database itself: UPDATE, DELETE and TRUNCATE are refused
 * by a trigger, whoever runs them, so a rollgate bug or a stolen service credential cannot
 * rewrite the trail. Statement-level, so even a statement that would touch no row is refused.
 *
 * A trigger binds every role but the table's owner (who may drop or disable it) and a
 * superuser. The README's database user layout therefore has an owner role that runs
 * migrations and a service role with only INSERT and SELECT on `audit_log`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create function audit_log_refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_log is append-only: % is refused', tg_op using errcode = 'insufficient_privilege';
    end
    $$`.execute(db);
  await sql`create trigger audit_log_append_only before update or delete or truncate on audit_log for each statement execute function audit_log_refuse_change()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop trigger if exists audit_log_append_only on audit_log`.execute(db);
  await sql`drop function if exists audit_log_refuse_change()`.execute(db);
}
