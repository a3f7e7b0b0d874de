import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, Migrator, PostgresDialect, sql, type MigrationResult } from 'kysely';
import pg from 'pg';
import { migrations } from '../../migrations/index.js';
import type { Database } from './schema.js';
import { acquireDataDirLock, type LockHolder } from './data-dir-lock.js';
import { PGliteDialect } from './pglite-dialect.js';
import { prepareStatements } from './prepared-statements.js';
import { seedFromPristineArchive } from './pristine-data-dir.js';
import { StorableTextPlugin } from './storable-text-plugin.js';

/**
 * How each PostgreSQL connection guards against a server that stops answering. TCP keepalive
 * finds a peer gone across a partition (otherwise the kernel's default is about two hours before
 * the first probe); the statement timeout ends a statement the server runs or waits on too long
 * (a lock held by a hung replica), so no worker waits on it for ever. 0 turns either off.
 */
export interface PgConnectionSettings {
  /** Idle time before the first TCP keepalive probe (ms). */
  readonly keepAliveMs: number;
  /** PostgreSQL `statement_timeout` for every statement of the service (ms); migrations are exempt. */
  readonly statementTimeoutMs: number;
  /** Statement texts each pooled connection keeps prepared (see prepared-statements.ts); 0: none (PgBouncer in transaction mode). */
  readonly preparedStatements?: number;
}

/** Enough for every statement the service runs often. */
const DEFAULT_PREPARED_STATEMENTS = 256;

/** Where the data lives: a PostgreSQL server, or an embedded PGlite folder (`memory://` for tests). */
export type DatabaseTarget = { kind: 'postgres'; url: string; connection?: PgConnectionSettings } | { kind: 'pglite'; dataDir: string };

/** The database the settings name: `DATABASE_URL` when set, else the embedded one in `ROLLGATE_DATA_DIR`. */
export function configuredTarget(settings: { readonly databaseUrl: string | undefined; readonly dataDir: string; readonly pgConnection?: PgConnectionSettings }): DatabaseTarget {
  if (!settings.databaseUrl) return { kind: 'pglite', dataDir: settings.dataDir };
  return settings.pgConnection ? { kind: 'postgres', url: settings.databaseUrl, connection: settings.pgConnection } : { kind: 'postgres', url: settings.databaseUrl };
}

/** The pg Client/Pool options for `settings`: keepalive, and the statement timeout sent as a startup parameter. */
function pgConnectionOptions(settings: PgConnectionSettings | undefined): pg.ClientConfig {
  if (!settings) return { keepAlive: true };
  return {
    keepAlive: settings.keepAliveMs > 0,
    ...(settings.keepAliveMs > 0 ? { keepAliveInitialDelayMillis: settings.keepAliveMs } : {}),
    ...(settings.statementTimeoutMs > 0 ? { statement_timeout: settings.statementTimeoutMs } : {}),
  };
}

/** The database plus the capabilities that differ between backends. */
export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly backend: DatabaseTarget['kind'];
  /** PGlite is one session: work that could run in parallel runs one piece at a time. */
  readonly singleConnection: boolean;
  /**
   * Opens a connection of its own, outside the pool, for the stream leader's lease, so a pool
   * busy with work never makes a renewal late (the caller connects and ends it). Absent where
   * `singleConnection`: PGlite is one session in one process.
   */
  readonly dedicatedConnection?: () => pg.Client;
  close(): Promise<void>;
}

const INT8_OID = 20;

/**
 * The embedded database's memory: PostgreSQL's default 128 MB of shared buffers sit in the
 * process's WebAssembly memory for good (it never shrinks); rollgate's tables are small and hot,
 * so 16 MB keeps an idle `serve` near 240 MB instead of 360 MB (measured by `npm run bench`).
 */
const PGLITE_SETTINGS = ['shared_buffers=16MB'];

export interface DatabaseOptions {
  /** Told when an embedded folder's lock was left by a process that is gone and is taken over; default a line on stderr. */
  readonly onStaleLock?: (dataDir: string, stale: LockHolder) => void;
  /** Where a fresh embedded folder's pristine archive is looked for; default beside the compiled code (see pristine-data-dir.ts). */
  readonly pristineArchiveDir?: string;
}

function writeStaleLockLine(dataDir: string, h: LockHolder): void {
  process.stderr.write(`took over the lock of the embedded database in ${dataDir}: "${h.command}" (pid ${h.pid} on host ${h.host}, since ${h.since}) is no longer running\n`);
}

/**
 * The one place that knows there are two backends. Both speak PostgreSQL SQL, so stores and
 * migrations are shared; bigint columns come back as numbers on both. On both, every value a
 * query binds passes `StorableTextPlugin`: text PostgreSQL would refuse is made storable. An
 * embedded folder is opened by one process at a time (`acquireDataDirLock`); another refuses
 * with `DataDirInUseError`, naming the holder.
 */
export async function createDatabase(target: DatabaseTarget, options: DatabaseOptions = {}): Promise<DatabaseHandle> {
  if (target.kind === 'postgres') {
    const connection = pgConnectionOptions(target.connection);
    const pool = new pg.Pool({ connectionString: target.url, max: 10, ...connection });
    // an idle connection the server closes (restart, terminated backend) must not crash the
    // process; the pool drops it and the next query opens a new one
    pool.on('error', () => {});
    pool.on('connect', (client) => {
      client.setTypeParser(INT8_OID, (value: string) => Number(value));
      // the pool listens for errors only on idle clients; one the server drops while it is
      // checked out (between statements of a transaction) would otherwise throw. Its next query
      // fails instead, and the pool discards it on release because it is no longer queryable.
      client.on('error', () => {});
      prepareStatements(client, target.connection?.preparedStatements ?? DEFAULT_PREPARED_STATEMENTS);
    });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins: [new StorableTextPlugin()] });
    const dedicatedConnection = () => {
      const client = new pg.Client({ connectionString: target.url, ...connection });
      client.setTypeParser(INT8_OID, (value: string) => Number(value));
      return client;
    };
    return { db, backend: 'postgres', singleConnection: false, dedicatedConnection, close: () => db.destroy() };
  }
  const inMemory = target.dataDir.startsWith('memory://');
  if (!inMemory) mkdirSync(target.dataDir, { recursive: true });
  // one process per folder: a second one would overwrite what the first recorded
  const lock = inMemory ? undefined : acquireDataDirLock(target.dataDir, { onTakeover: (stale) => (options.onStaleLock ?? writeStaleLockLine)(target.dataDir, stale) });
  let pglite: PGlite;
  try {
    // seeded under the lock, so no other process sees the folder half unpacked
    if (!inMemory) await seedFromPristineArchive(target.dataDir, options.pristineArchiveDir);
    pglite = await PGlite.create({ dataDir: target.dataDir, parsers: { [INT8_OID]: (value: string) => Number(value) }, postgresqlconf: PGLITE_SETTINGS });
  } catch (err) {
    lock?.release();
    throw err;
  }
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite), plugins: [new StorableTextPlugin()] });
  return {
    db,
    backend: 'pglite',
    singleConnection: true,
    close: async () => {
      try {
        await db.destroy();
        await pglite.close();
      } finally {
        lock?.release();
      }
    },
  };
}

export interface MigrationOutcome {
  readonly applied: readonly string[];
  readonly error?: unknown;
}

/**
 * Brings the schema up to date; never throws, like Kysely's Migrator. Migrations run on one
 * connection with no statement timeout: rewriting a large table may rightly take longer than
 * any statement of the service.
 */
export async function migrateToLatest(db: Kysely<Database>): Promise<MigrationOutcome> {
  const { error, results } = await db.connection().execute(async (conn) => {
    await sql`set statement_timeout = 0`.execute(conn);
    try {
      return await new Migrator({ db: conn, provider: { getMigrations: async () => migrations } }).migrateToLatest();
    } finally {
      // back to the timeout the connection was opened with, before the pool hands it out again
      await sql`reset statement_timeout`.execute(conn).catch(() => undefined);
    }
  });
  const applied = (results ?? []).filter((r: MigrationResult) => r.status === 'Success').map((r) => r.migrationName);
  return error === undefined ? { applied } : { applied, error };
}
