import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryHash } from '../../src/audit/audit-chain.js';
import { AuditStore } from '../../src/audit/audit-store.js';
import type { AuditEvent } from '../../src/audit/audit-trail.js';
import { createDatabase, migrateToLatest, type DatabaseHandle } from '../../src/db/database.js';
import { BACKENDS, createTestDatabase, openTestDatabaseForSuite, type TestDatabase } from '../helpers/backends.js';
import { withAuditTriggerOff } from '../helpers/audit-tamper.js';

const event = (n: number): AuditEvent => ({ kind: 'decision', actor: 'rollgate', rolloutId: n, project: 'payments/api', changeNumber: 100 + n, summary: `decision ${n}`, data: { n } });

/** Attack: the service's own database user rewrites or deletes audit rows (issue 11, hole 10). */
describe.each(BACKENDS)('%s: the audit trail cannot be rewritten through the database', (backend) => {
  const database = openTestDatabaseForSuite(backend);
  let audit: AuditStore;

  beforeAll(async () => {
    audit = new AuditStore(database.handle.db);
    for (let n = 1; n <= 4; n++) await audit.append(event(n));
  });

  const rows = () => database.handle.db.selectFrom('audit_log').select(['id', 'summary', 'hash']).orderBy('id').execute();

  it('refuses UPDATE, DELETE and TRUNCATE from the user rollgate connects as, and leaves the rows as they were', async () => {
    const before = await rows();
    await expect(sql`update audit_log set summary = 'nothing to see' where id = 2`.execute(database.handle.db)).rejects.toThrow(/audit_log is append-only: UPDATE is refused/);
    await expect(sql`delete from audit_log where id >= 3`.execute(database.handle.db)).rejects.toThrow(/audit_log is append-only: DELETE is refused/);
    await expect(database.handle.db.deleteFrom('audit_log').execute()).rejects.toThrow(/append-only/);
    await expect(sql`truncate audit_log`.execute(database.handle.db)).rejects.toThrow(/audit_log is append-only: TRUNCATE is refused/);
    expect(await rows()).toEqual(before);
    expect(await audit.verify()).toMatchObject({ ok: true, rows: 4 });
    // appending still works
    await audit.append(event(5));
    expect(await audit.verify()).toMatchObject({ ok: true, rows: 5 });
  });

  it('reads rows with id 0 or below: a row slipped in before the first is found', async () => {
    const first = (await audit.page({ limit: 1 })).entries[0]!;
    const forged = { ...first, id: 0, summary: 'approved by the CTO' };
    await sql`insert into audit_log (id, at, kind, actor, summary, data, prev_hash, hash) values (0, ${forged.at}, 'decision', 'rollgate', ${forged.summary}, '{}'::jsonb, ${'f'.repeat(64)}, ${entryHash('f'.repeat(64), { ...forged, data: {}, rolloutId: null, project: null, changeNumber: null })})`.execute(database.handle.db);
    try {
      expect(await audit.verify()).toMatchObject({ ok: false, rows: 0, broken: { id: 0, reason: 'row-missing', message: expect.stringMatching(/row #0 .*before the first row/) } });
    } finally {
      await withAuditTriggerOff(database.handle.db, () => sql`delete from audit_log where id = 0`.execute(database.handle.db));
    }
    expect(await audit.verify()).toMatchObject({ ok: true });
  });

  it('checks ids are contiguous from the first row: a trail whose oldest rows are gone is broken', async () => {
    await withAuditTriggerOff(database.handle.db, () => sql`delete from audit_log where id <= 2`.execute(database.handle.db));
    expect(await audit.verify()).toMatchObject({ ok: false, rows: 0, broken: { id: 1, reason: 'row-missing' } });
  });
});

/**
 * The layout the README asks an operator for on PostgreSQL: an owner role runs migrations, the
 * service connects as a role with only INSERT and SELECT on audit_log. That role can append, and
 * can neither rewrite rows nor switch the trigger off.
 */
describe.each(BACKENDS.filter((b) => b === 'postgres'))('%s: the service role of the documented layout', (backend) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let service: DatabaseHandle;
  const role = `rollgate_svc_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    handle = await createDatabase(database.target);
    const migrated = await migrateToLatest(handle.db);
    if (migrated.error !== undefined) throw migrated.error;
    await sql.raw(`create role ${role} login password '${password}'`).execute(handle.db);
    await sql.raw(`grant select, insert on audit_log to ${role}`).execute(handle.db);
    // every append moves the head row on
    await sql.raw(`grant select, update, delete on audit_head to ${role}`).execute(handle.db);
    const url = new URL(database.url!);
    url.username = role;
    url.password = password;
    service = await createDatabase({ kind: 'postgres', url: url.toString() });
  });
  afterAll(async () => {
    await service?.close();
    await handle?.close();
    await database?.drop();
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`drop role if exists ${role}`);
    await admin.end();
  });

  it('appends, but cannot update, delete, truncate or disable the trigger', async () => {
    const audit = new AuditStore(service.db);
    await audit.append(event(1));
    await audit.append(event(2));
    expect(await audit.verify()).toMatchObject({ ok: true, rows: 2 });
    await expect(sql`update audit_log set summary = 'x'`.execute(service.db)).rejects.toThrow(/permission denied|append-only/);
    await expect(sql`delete from audit_log`.execute(service.db)).rejects.toThrow(/permission denied|append-only/);
    await expect(sql`truncate audit_log`.execute(service.db)).rejects.toThrow(/permission denied|append-only/);
    await expect(sql`alter table audit_log disable trigger audit_log_append_only`.execute(service.db)).rejects.toThrow(/must be owner/);
    // without the head row no append could happen: even a role granted DELETE cannot remove it
    await expect(sql`delete from audit_head`.execute(service.db)).rejects.toThrow(/append-only: DELETE is refused/);
    expect(await audit.verify()).toMatchObject({ ok: true, rows: 2 });
  });
});
