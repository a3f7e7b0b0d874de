import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditStore } from '../../src/audit/audit-store.js';
import { migrateToLatest } from '../../src/db/database.js';
import { withAuditTriggerOff } from '../helpers/audit-tamper.js';
import { BACKENDS, createCliTestDatabase, type CliTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * An auditor's own check of exported lines, written from the README's definition rather than
 * with rollgate's code: sha256 over the previous hash, a newline, and the entry without its two
 * hashes as JSON with sorted keys and no whitespace.
 */
function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]));
  return v;
}
function reverify(lines: ReadonlyArray<Record<string, unknown>>, prev = '0'.repeat(64)): boolean {
  for (const { prevHash, hash, ...content } of lines) {
    if (prevHash !== prev || createHash('sha256').update(`${prev}\n${JSON.stringify(sorted(content))}`).digest('hex') !== hash) return false;
    prev = hash as string;
  }
  return true;
}

describe.each(BACKENDS)('%s: rollgate audit verify / export', (backend) => {
  let database: TestDatabase;
  let env: Record<string, string>;
  let withDb: CliTestDatabase['withDb'];
  const tmp = tempDir('rollgate-audit-cli-');

  beforeAll(async () => {
    ({ database, env, withDb } = await createCliTestDatabase(backend, tmp));
    await withDb(async (h) => {
      const migrated = await migrateToLatest(h.db);
      if (migrated.error !== undefined) throw migrated.error;
      const audit = new AuditStore(h.db, () => new Date('2026-11-23T10:00:00.000Z'));
      for (let n = 1; n <= 5; n++) {
        await audit.append({ kind: n === 3 ? 'step-finished' : 'decision', actor: 'rollgate', rolloutId: n, project: 'payments/api', changeNumber: 100 + n, summary: `fact ${n}`, data: { n, nested: { z: 1.5, a: [n] } } });
      }
    });
  });
  afterAll(async () => database?.drop());

  it('says the trail is intact, with its length and head hash, and exits 0', async () => {
    const head = await withDb((h) => h.db.selectFrom('audit_log').select('hash').where('id', '=', 5).executeTakeFirstOrThrow());
    const r = await runCli(['audit', 'verify'], env);
    expect(r).toMatchObject({ code: 0, stdout: `audit trail intact: 5 rows, head 5:${head.hash}\n` });
  });

  it('checks a head recorded earlier: that row must still be there with that hash', async () => {
    const row3 = await withDb((h) => h.db.selectFrom('audit_log').select('hash').where('id', '=', 3).executeTakeFirstOrThrow());
    const ok = await runCli(['audit', 'verify', '--head', `3:${row3.hash}`], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^audit trail intact: 5 rows, head 5:[0-9a-f]{64} \(the recorded head is in it, unchanged\)\n$/);
    const rewritten = await runCli(['audit', 'verify', '--head', `3:${'0'.repeat(64)}`], env);
    expect(rewritten.code).toBe(1);
    expect(rewritten.stdout).toContain('audit trail broken at row #3 (step-finished, 2026-11-23T10:00:00.000Z): its hash is not the one recorded for it earlier (the chain was rewritten up to here)\n');
    const beyond = await runCli(['audit', 'verify', '--head', `9:${row3.hash}`], env);
    expect(beyond.code).toBe(1);
    expect(beyond.stdout).toContain('audit trail broken at row #6: missing: the trail ends at #5, but row #9 was recorded earlier (the newest rows were deleted)\n');
    const malformed = await runCli(['audit', 'verify', '--head', 'abc'], env);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('rollgate audit verify: --head must be ID:HASH as audit verify printed it');
  });

  it('exports JSON lines with hashes that an auditor can re-verify outside rollgate', async () => {
    const out = path.join(tmp, 'audit.jsonl');
    const r = await runCli(['audit', 'export', '--out', out], env);
    expect(r).toMatchObject({ code: 0, stdout: `exported 5 rows (#1 to #5) to ${out}\n` });
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.id)).toEqual([1, 2, 3, 4, 5]);
    expect(lines[2]).toMatchObject({ kind: 'step-finished', at: '2026-11-23T10:00:00.000Z', rolloutId: 3, changeNumber: 103, summary: 'fact 3', data: { n: 3, nested: { z: 1.5, a: [3] } } });
    expect(reverify(lines)).toBe(true);
    // the check can fail: one changed fact breaks it
    expect(reverify(lines.map((l) => (l.id === 4 ? { ...l, summary: 'edited' } : l)))).toBe(false);

    const tail = await runCli(['audit', 'export', '--after', '3'], env);
    const tailLines = tail.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(tailLines.map((l) => l.id)).toEqual([4, 5]);
    expect(reverify(tailLines, lines[2]!.hash as string)).toBe(true);
  });

  it('refuses a malformed --after with the usage', async () => {
    const r = await runCli(['audit', 'export', '--after', 'yesterday'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('rollgate audit export: --after must be a row id (0 or more), got "yesterday"');
  });

  it('finds a row edited directly in the database, exits 1 and names it', async () => {
    await withDb((h) => withAuditTriggerOff(h.db, () => sql`update audit_log set data = jsonb_set(data, '{n}', '42') where id = 3`.execute(h.db)));
    const r = await runCli(['audit', 'verify'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      'audit trail broken at row #3 (step-finished, 2026-11-23T10:00:00.000Z): content does not match its hash (changed after it was written)\n' +
        '2 rows before it are intact; nothing from row #3 on can be trusted\n',
    );
  });

  it('finds a deleted row', async () => {
    await withDb((h) =>
      withAuditTriggerOff(h.db, async () => {
        // put row 3 back as it was, so only the deletion is wrong
        await sql`update audit_log set data = jsonb_set(data, '{n}', '3') where id = 3`.execute(h.db);
        await sql`delete from audit_log where id = 2`.execute(h.db);
      }),
    );
    const r = await runCli(['audit', 'verify'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('audit trail broken at row #2: missing: the rows go from #1 to #3 (row #2 deleted)\n');
  });
});

describe('rollgate audit without a database', () => {
  it('says there is none instead of creating one', async () => {
    const dataDir = path.join(tempDir('rollgate-audit-none-'), 'nothing-here');
    const r = await runCli(['audit', 'verify'], { ROLLGATE_DATA_DIR: dataDir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`no database at ${dataDir} (ROLLGATE_DATA_DIR); set it, or DATABASE_URL, to the database rollgate serve uses\n`);
  });
});
