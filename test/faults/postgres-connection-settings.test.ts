import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { configuredTarget, createDatabase, migrateToLatest, type DatabaseHandle } from '../../src/db/database.js';
import { sql } from 'kysely';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';

/**
 * A statement stuck behind a lock that a hung replica holds is cancelled after
 * ROLLGATE_PG_STATEMENT_TIMEOUT_MS instead of holding its worker for ever; migrations are exempt.
 * PGlite is one session in one process: there is no other session to wait on, and the settings
 * do not apply to it.
 */
describe('ROLLGATE_PG_* settings', () => {
  it('are read with defaults, checked, and reach the PostgreSQL target only', () => {
    const base = { ROLLGATE_POLICY_DIR: 'test/fixtures/policies' };
    const defaults = loadConfig({ ...base, DATABASE_URL: 'postgres://u@db.example/rollgate' });
    expect(defaults.pgConnection).toEqual({ keepAliveMs: 10_000, statementTimeoutMs: 60_000, preparedStatements: 256 });
    expect(defaults).toMatchObject({ leaderLeaseMs: 10_000, leaderRenewMs: 3333, leaderPollMs: 2000 });
    expect(configuredTarget(defaults)).toEqual({ kind: 'postgres', url: 'postgres://u@db.example/rollgate', connection: { keepAliveMs: 10_000, statementTimeoutMs: 60_000, preparedStatements: 256 } });
    expect(loadConfig({ ...base, DATABASE_URL: 'postgres://u@db.example/rollgate', ROLLGATE_PG_PREPARED_STATEMENTS: '0' }).pgConnection.preparedStatements).toBe(0);
    expect(() => loadConfig({ ...base, ROLLGATE_PG_PREPARED_STATEMENTS: 'lots' })).toThrow(/ROLLGATE_PG_PREPARED_STATEMENTS: /);
    const embedded = loadConfig({ ...base, ROLLGATE_DATA_DIR: 'memory://', ROLLGATE_PG_STATEMENT_TIMEOUT_MS: '500' });
    expect(configuredTarget(embedded)).toEqual({ kind: 'pglite', dataDir: 'memory://' });
    expect(() => loadConfig({ ...base, ROLLGATE_PG_KEEPALIVE_MS: '-1' })).toThrow(/ROLLGATE_PG_KEEPALIVE_MS: /);
    expect(() => loadConfig({ ...base, ROLLGATE_LEADER_LEASE_MS: '3000', ROLLGATE_LEADER_RENEW_MS: '2000' })).toThrow(
      /ROLLGATE_LEADER_RENEW_MS: 2000 is more than half of ROLLGATE_LEADER_LEASE_MS \(3000\)/,
    );
  });
});

describe.each(BACKENDS)('%s: the statement timeout', (backend) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const open = async (test: TestDatabase, statementTimeoutMs: number): Promise<DatabaseHandle> => {
    const target = test.target.kind === 'postgres' ? { ...test.target, connection: { keepAliveMs: 1000, statementTimeoutMs } } : test.target;
    const handle = await createDatabase(target);
    cleanups.push(() => handle.close());
    return handle;
  };

  it(backend === 'postgres' ? 'cancels a statement waiting on a lock a hung session holds, and leaves migrations without it' : 'does not apply to PGlite, one session in one process', async () => {
    const test = await createTestDatabase(backend);
    cleanups.push(() => test.drop());
    const handle = await open(test, 300);
    const migrated = await migrateToLatest(handle.db);
    expect(migrated.error).toBeUndefined();
    const timeout = async () => (await sql<{ statement_timeout: string }>`show statement_timeout`.execute(handle.db)).rows[0]!.statement_timeout;
    if (backend === 'pglite') {
      expect(handle.singleConnection).toBe(true);
      expect(await timeout()).toBe('0');
      return;
    }
    // the migration's connection went back to the pool with the timeout it was opened with
    for (let i = 0; i < 3; i++) expect(await timeout()).toBe('300ms');

    // a "hung replica": a session that took a row lock and stopped
    const hung = new pg.Client({ connectionString: test.url });
    await hung.connect();
    cleanups.push(() => hung.end());
    await handle.db.insertInto('checkpoints').values({ name: 'locked', value: '{}' }).execute();
    await hung.query('begin');
    await hung.query(`select * from checkpoints where name = 'locked' for update`);

    const started = Date.now();
    const update = handle.db.updateTable('checkpoints').set({ value: '{"a":1}' }).where('name', '=', 'locked').execute();
    await expect(update).rejects.toThrow(/canceling statement due to statement timeout/);
    expect(Date.now() - started).toBeLessThan(5000);
    await hung.query('rollback');
  });
});
