import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { createDatabase, migrateToLatest, type DatabaseHandle, type DatabaseTarget } from '../../src/db/database.js';

/**
 * The database backends every store and pipeline test runs on: embedded PGlite always, and a
 * PostgreSQL server when TEST_DATABASE_URL is set. In CI the server is required, so a missing
 * one fails the run instead of quietly testing only one backend.
 */
export type Backend = 'pglite' | 'postgres';

const serverUrl = process.env.TEST_DATABASE_URL;
if (process.env.CI === 'true' && !serverUrl) {
  throw new Error('CI=true but TEST_DATABASE_URL is not set: the PostgreSQL backend must be tested in CI');
}

export const BACKENDS: readonly Backend[] = serverUrl ? ['pglite', 'postgres'] : ['pglite'];

if (!serverUrl) {
  // loud, so a developer knows half the matrix did not run here
  console.warn('[rollgate tests] TEST_DATABASE_URL not set: PostgreSQL server backend not tested in this run');
}

export interface TestDatabase {
  readonly target: DatabaseTarget;
  /** A fresh, empty database; the caller opens it (or starts the service on it). */
  readonly url: string | undefined;
  drop(): Promise<void>;
}

/** Creates an empty database on the backend: a PGlite folder in memory, or a new PostgreSQL database. */
export async function createTestDatabase(backend: Backend): Promise<TestDatabase> {
  if (backend === 'pglite') return { target: { kind: 'pglite', dataDir: 'memory://' }, url: undefined, drop: async () => {} };
  const name = `rollgate_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(serverUrl!);
  url.pathname = `/${name}`;
  return {
    target: { kind: 'postgres', url: url.toString() },
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** A fresh migrated database handle on the backend, and a cleanup. */
export async function openTestDatabase(backend: Backend): Promise<{ handle: DatabaseHandle; cleanup: () => Promise<void> }> {
  const test = await createTestDatabase(backend);
  const handle = await createDatabase(test.target);
  const migrated = await migrateToLatest(handle.db);
  if (migrated.error !== undefined) throw migrated.error;
  return {
    handle,
    cleanup: async () => {
      await handle.close();
      await test.drop();
    },
  };
}

/**
 * For one `describe` block: a fresh migrated database on `backend` (`openTestDatabase`), opened in
 * `beforeAll` and cleaned up in `afterAll`. Read `handle` inside hooks and tests, not at collection time.
 */
export function openTestDatabaseForSuite(backend: Backend): { readonly handle: DatabaseHandle } {
  let opened: Awaited<ReturnType<typeof openTestDatabase>> | undefined;
  beforeAll(async () => {
    opened = await openTestDatabase(backend);
  });
  afterAll(async () => {
    await opened?.cleanup();
  });
  return {
    get handle() {
      if (!opened) throw new Error(`${backend}: the suite's database is not open (use it inside hooks and tests)`);
      return opened.handle;
    },
  };
}

/** A test database that the test and `rollgate` CLI processes take turns opening (`createCliTestDatabase`). */
export interface CliTestDatabase {
  readonly database: TestDatabase;
  /** The settings that point a `rollgate` process at it. */
  readonly env: Record<string, string>;
  /** Opens it for the length of `fn`: the CLI opens it itself, and on PGlite only one process may hold the folder. */
  withDb<T>(fn: (handle: DatabaseHandle) => Promise<T>): Promise<T>;
}

/**
 * A fresh database on `backend` for a test that runs the `rollgate` CLI on it: on PGlite a folder
 * `data` in `folder` (not memory, which another process could not see), on PostgreSQL a new database.
 */
export async function createCliTestDatabase(backend: Backend, folder: string): Promise<CliTestDatabase> {
  const database = await createTestDatabase(backend);
  const dataDir = path.join(folder, 'data');
  const target: DatabaseTarget = database.url ? database.target : { kind: 'pglite', dataDir };
  return {
    database,
    env: database.url ? { DATABASE_URL: database.url } : { ROLLGATE_DATA_DIR: dataDir },
    async withDb(fn) {
      const handle = await createDatabase(target);
      try {
        return await fn(handle);
      } finally {
        await handle.close();
      }
    },
  };
}
