import { sql, type Kysely } from 'kysely';
import { migrations } from '../../migrations/index.js';
import type { Database } from './schema.js';

export type Readiness = { readonly ready: true } | { readonly ready: false; readonly problems: readonly string[] };

/**
 * Ready means the database answers and every migration rollgate ships is applied. A database
 * that does not answer within `timeoutMs` (a server that drops packets) counts as down.
 */
export async function checkReadiness(db: Kysely<Database>, timeoutMs = 2000): Promise<Readiness> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([check(db), timeout]);
  } catch (err) {
    return { ready: false, problems: [`database unreachable: ${(err as Error).message}`] };
  } finally {
    clearTimeout(timer);
  }
}

async function check(db: Kysely<Database>): Promise<Readiness> {
  await sql`select 1`.execute(db);
  const table = await sql<{ found: string | null }>`select to_regclass('kysely_migration')::text as found`.execute(db);
  const expected = Object.keys(migrations);
  if (!table.rows[0]?.found) return { ready: false, problems: [`migrations not applied: ${expected.join(', ')}`] };
  const applied = new Set((await sql<{ name: string }>`select name from kysely_migration`.execute(db)).rows.map((r) => r.name));
  const missing = expected.filter((name) => !applied.has(name));
  return missing.length === 0 ? { ready: true } : { ready: false, problems: [`migrations not applied: ${missing.join(', ')}`] };
}
