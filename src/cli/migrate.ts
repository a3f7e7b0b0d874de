import { loadConfig } from '../config.js';
import { configuredTarget, createDatabase, migrateToLatest } from '../db/database.js';

/** `rollgate migrate`: applies the database migrations and exits (serve also does this at start). */
export async function migrateCommand(): Promise<number> {
  const config = loadConfig();
  const database = await createDatabase(configuredTarget(config));
  try {
    const result = await migrateToLatest(database.db);
    for (const name of result.applied) process.stdout.write(`applied ${name}\n`);
    if (result.error !== undefined) {
      process.stderr.write(`migration failed: ${(result.error as Error).message}\n`);
      return 1;
    }
    if (result.applied.length === 0) process.stdout.write('database is up to date\n');
    return 0;
  } finally {
    await database.close();
  }
}
