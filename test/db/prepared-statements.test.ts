import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';

/** Prepared statements are a PostgreSQL server matter: PGlite has no pool to prepare on. */
describe.runIf(BACKENDS.includes('postgres'))('postgres: pooled connections prepare their statements', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await database?.drop();
  });

  /** Runs `fn` on one pooled connection, so what that connection prepared can be seen from it. */
  async function onOneConnection<T>(handle: DatabaseHandle, fn: (db: DatabaseHandle['db']) => Promise<T>): Promise<T> {
    return handle.db.connection().execute(fn);
  }

  const prepared = (db: DatabaseHandle['db']) => sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(db).then((r) => r.rows.map((row) => row.statement));

  it('prepares a statement once and runs it again by name, with its parameters', async () => {
    const handle = await createDatabase({ kind: 'postgres', url: database.url!, connection: { keepAliveMs: 0, statementTimeoutMs: 0 } });
    try {
      await onOneConnection(handle, async (db) => {
        for (const n of [1, 2, 3]) expect((await sql<{ n: number }>`select ${n}::int + 1 as n`.execute(db)).rows[0]!.n).toBe(n + 1);
        expect((await prepared(db)).filter((s) => s.includes('$1::int + 1'))).toHaveLength(1);
        // no parameters: nothing to reuse a plan for, so not prepared
        await sql`select 42`.execute(db);
        expect((await prepared(db)).some((s) => s.includes('select 42'))).toBe(false);
      });
    } finally {
      await handle.close();
    }
  });

  it('prepares nothing with ROLLGATE_PG_PREPARED_STATEMENTS=0 (PgBouncer in transaction mode)', async () => {
    const handle = await createDatabase({ kind: 'postgres', url: database.url!, connection: { keepAliveMs: 0, statementTimeoutMs: 0, preparedStatements: 0 } });
    try {
      await onOneConnection(handle, async (db) => {
        await sql`select ${1}::int as n`.execute(db);
        expect(await prepared(db)).toEqual([]);
      });
    } finally {
      await handle.close();
    }
  });

  it('keeps at most the limit per connection; later texts still run, unprepared', async () => {
    const handle = await createDatabase({ kind: 'postgres', url: database.url!, connection: { keepAliveMs: 0, statementTimeoutMs: 0, preparedStatements: 3 } });
    try {
      await onOneConnection(handle, async (db) => {
        for (let i = 0; i < 6; i++) expect((await sql<{ n: number }>`select ${i}::int + ${sql.lit(i)} as n`.execute(db)).rows[0]!.n).toBe(2 * i);
        expect(await prepared(db)).toHaveLength(3);
      });
    } finally {
      await handle.close();
    }
  });

  it('a table changed under a prepared select * (another replica migrated) fails once, then works again', async () => {
    const handle = await createDatabase({ kind: 'postgres', url: database.url!, connection: { keepAliveMs: 0, statementTimeoutMs: 0 } });
    try {
      await sql`create table replica_changed (id int primary key)`.execute(handle.db);
      await sql`insert into replica_changed values (1)`.execute(handle.db);
      await onOneConnection(handle, async (db) => {
        const read = () => sql<Record<string, unknown>>`select * from replica_changed where id = ${1}`.execute(db);
        expect((await read()).rows).toEqual([{ id: 1 }]);
        await sql`alter table replica_changed add column note text`.execute(db);
        await expect(read()).rejects.toThrow(/cached plan must not change result type/);
        expect((await read()).rows).toEqual([{ id: 1, note: null }]);
      });
    } finally {
      await handle.close();
    }
  });
});
