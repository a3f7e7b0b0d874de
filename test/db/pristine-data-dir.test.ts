import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.js';
import { createDatabase, migrateToLatest } from '../../src/db/database.js';
import { installedPgliteVersion, pristineArchiveName, seedFromPristineArchive, writePristineArchive } from '../../src/db/pristine-data-dir.js';
import type { Database } from '../../src/db/schema.js';

/** PostgreSQL's identifier of a data folder, chosen at random by initdb: equal ones come from one initdb. */
async function systemIdentifier(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ id: string }>`select system_identifier::text as id from pg_control_system()`.execute(db);
  return rows[0]!.id;
}

/** Opens the folder, returns its system identifier and closes it. */
async function identifierOf(dataDir: string, pristineArchiveDir: string): Promise<string> {
  const handle = await createDatabase({ kind: 'pglite', dataDir }, { pristineArchiveDir });
  try {
    return await systemIdentifier(handle.db);
  } finally {
    await handle.close();
  }
}

describe('a fresh embedded folder is seeded from the pristine data folder made at build time', () => {
  let scratch: string;
  let archiveDir: string;
  let archiveIdentifier: string;

  beforeAll(async () => {
    scratch = mkdtempSync(path.join(tmpdir(), 'rollgate-pristine-test-'));
    archiveDir = path.join(scratch, 'archive');
    mkdirSync(archiveDir);
    // made as scripts/build.ts makes it for dist/, from the installed PGlite
    const archive = await writePristineArchive(archiveDir);
    expect(path.basename(archive)).toBe(pristineArchiveName(installedPgliteVersion()));
    archiveIdentifier = await identifierOf(path.join(scratch, 'reference'), archiveDir);
  }, 60_000);

  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('migrates, keeps what was recorded across a reopen, and is the archived database rather than a new initdb', async () => {
    const dataDir = path.join(scratch, 'fresh');
    const first = await createDatabase({ kind: 'pglite', dataDir }, { pristineArchiveDir: archiveDir });
    try {
      expect(existsSync(path.join(dataDir, 'PG_VERSION'))).toBe(true);
      expect(await systemIdentifier(first.db)).toBe(archiveIdentifier);
      const outcome = await migrateToLatest(first.db);
      expect(outcome.error).toBeUndefined();
      expect(outcome.applied).toEqual(Object.keys(migrations));
      await first.db.insertInto('events').values({ dedup_key: 'seeded-folder', source: 'stream', type: 'change-merged', raw: '{}', status: 'pending', reason: null, event_created_on: null, processed_at: null }).execute();
      const { rows } = await sql<{ user: string; database: string; encoding: string }>`select current_user as user, current_database() as database, pg_encoding_to_char(encoding) as encoding from pg_database where datname = current_database()`.execute(first.db);
      expect(rows).toEqual([{ user: 'postgres', database: 'postgres', encoding: 'UTF8' }]);
    } finally {
      await first.close();
    }

    // an initialised folder is never seeded again: what it recorded is still there
    expect(await seedFromPristineArchive(dataDir, archiveDir)).toBe(false);
    const second = await createDatabase({ kind: 'pglite', dataDir }, { pristineArchiveDir: archiveDir });
    try {
      expect((await migrateToLatest(second.db)).applied).toEqual([]);
      expect(await second.db.selectFrom('events').select('dedup_key').execute()).toEqual([{ dedup_key: 'seeded-folder' }]);
    } finally {
      await second.close();
    }
  });

  it('seeds again a folder whose unpacking was cut short (PG_VERSION, written last, missing)', async () => {
    const dataDir = path.join(scratch, 'cut-short');
    expect(await seedFromPristineArchive(dataDir, archiveDir)).toBe(true);
    rmSync(path.join(dataDir, 'PG_VERSION'));
    // what an interrupted unpacking leaves: a file begun but not finished
    writeFileSync(path.join(dataDir, 'global', 'pg_control'), '');
    expect(await identifierOf(dataDir, archiveDir)).toBe(archiveIdentifier);
  });

  it('refuses a damaged archive, naming it, and leaves the folder to be seeded again', async () => {
    const damagedDir = path.join(scratch, 'damaged');
    mkdirSync(damagedDir);
    const name = pristineArchiveName(installedPgliteVersion());
    const whole = readFileSync(path.join(archiveDir, name));
    writeFileSync(path.join(damagedDir, name), whole.subarray(0, Math.floor(whole.length / 2)));
    const dataDir = path.join(scratch, 'from-damaged');
    await expect(createDatabase({ kind: 'pglite', dataDir }, { pristineArchiveDir: damagedDir })).rejects.toThrow(`${path.join(damagedDir, name)}: `);
    expect(existsSync(path.join(dataDir, 'PG_VERSION'))).toBe(false);
    // the lock was let go, and the whole archive seeds the same folder
    expect(await identifierOf(dataDir, archiveDir)).toBe(archiveIdentifier);
  });

  it('initialises the folder with initdb, as before, where there is no archive for the installed PGlite', async () => {
    const otherVersionDir = path.join(scratch, 'other-version');
    mkdirSync(otherVersionDir);
    // an archive of another PGlite is never unpacked (this one is not even an archive)
    writeFileSync(path.join(otherVersionDir, pristineArchiveName('0.0.0-other')), 'not a tarball');
    const dataDir = path.join(scratch, 'initdb');
    const identifier = await identifierOf(dataDir, otherVersionDir);
    expect(identifier).not.toBe(archiveIdentifier);
    const handle = await createDatabase({ kind: 'pglite', dataDir }, { pristineArchiveDir: otherVersionDir });
    try {
      expect((await migrateToLatest(handle.db)).applied).toEqual(Object.keys(migrations));
    } finally {
      await handle.close();
    }
  }, 60_000);
});
