import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

/** `rollgate migrate` as an operator runs it before a deploy: every migration in `migrations/` once, then nothing. */
const MIGRATIONS = readdirSync(path.resolve('migrations'))
  .filter((f) => /^\d{4}_.+\.ts$/.test(f))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();

describe.each(BACKENDS)('%s: rollgate migrate', (backend) => {
  let database: TestDatabase | undefined;
  afterAll(async () => {
    await database?.drop();
  });

  it('applies every migration in order on an empty database, then says it is up to date', async () => {
    database = await createTestDatabase(backend);
    // PGlite keeps its data in a folder, so the second run must find the first run's work there
    const env: Record<string, string> = database.url ? { DATABASE_URL: database.url } : { ROLLGATE_DATA_DIR: path.join(tempDir('rollgate-migrate-'), 'data') };

    const first = await runCli(['migrate'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout.trim().split('\n')).toEqual(MIGRATIONS.map((m) => `applied ${m}`));

    const second = await runCli(['migrate'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe('database is up to date\n');
  }, 60_000);
});
