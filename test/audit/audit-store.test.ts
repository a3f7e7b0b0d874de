import { sql } from 'kysely';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { entryHash, GENESIS_HASH } from '../../src/audit/audit-chain.js';
import { AuditStore } from '../../src/audit/audit-store.js';
import type { AuditEvent } from '../../src/audit/audit-trail.js';
import { emptyAuditTrail, withAuditTriggerOff } from '../helpers/audit-tamper.js';
import { BACKENDS, openTestDatabaseForSuite } from '../helpers/backends.js';

const event = (n: number, over: Partial<AuditEvent> = {}): AuditEvent => ({
  kind: 'decision',
  actor: 'rollgate',
  rolloutId: n,
  project: 'payments/api',
  changeNumber: 100 + n,
  summary: `decision ${n}`,
  data: { n },
  ...over,
});

describe.each(BACKENDS)('%s: audit store', (backend) => {
  const database = openTestDatabaseForSuite(backend);
  let audit: AuditStore;

  beforeAll(() => {
    audit = new AuditStore(database.handle.db);
  });
  beforeEach(async () => {
    await emptyAuditTrail(database.handle.db);
  });

  it('chains each row to the one before it and verifies the chain', async () => {
    for (let n = 1; n <= 3; n++) await audit.append(event(n));
    const rows = await database.handle.db.selectFrom('audit_log').selectAll().orderBy('id').execute();
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3]);
    expect(rows[0]!.prev_hash).toBe(GENESIS_HASH);
    expect(rows[1]!.prev_hash).toBe(rows[0]!.hash);
    expect(rows[2]!.prev_hash).toBe(rows[1]!.hash);
    expect(rows[2]!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(await audit.verify()).toEqual({ ok: true, rows: 3, head: { id: 3, hash: rows[2]!.hash } });
  });

  it('verifies an empty trail', async () => {
    expect(await audit.verify()).toEqual({ ok: true, rows: 0, head: undefined });
  });

  it('hashes data the same after the jsonb round trip: key order, numbers, dates, text jsonb refuses', async () => {
    await audit.append(
      event(1, {
        summary: 'nul \u0000 and a lone \ud800 surrogate',
        data: {
          zeta: 1,
          a: { long_key_first: [3, 2, 1], b: null, skipped: undefined },
          numbers: [1.5, 0.1, 1e21, 1e-7, -0, 12345678901234567890, Number.NaN, Infinity],
          when: new Date('2026-11-23T10:00:00.000Z'),
          text: 'émoji 🚀 "quoted" \\ back\u0000slash',
          'unicode-ключ': true,
        },
      }),
    );
    expect(await audit.verify()).toMatchObject({ ok: true, rows: 1 });
    const row = await database.handle.db.selectFrom('audit_log').select(['data', 'summary']).executeTakeFirstOrThrow();
    expect(row.summary).toBe('nul \uFFFD and a lone \uFFFD surrogate');
    expect(row.data).toEqual({
      zeta: 1,
      a: { long_key_first: [3, 2, 1], b: null },
      numbers: [1.5, 0.1, 1e21, 1e-7, 0, 12345678901234567890, null, null],
      when: '2026-11-23T10:00:00.000Z',
      text: 'émoji 🚀 "quoted" \\ back\uFFFDslash',
      'unicode-ключ': true,
    });
  });

  it("appends inside the caller's transaction: a rolled-back change leaves no audit row", async () => {
    await audit.append(event(1));
    await expect(
      database.handle.db.transaction().execute(async (trx) => {
        await audit.append(event(2), trx);
        throw new Error('the state change failed');
      }),
    ).rejects.toThrow('the state change failed');
    await database.handle.db.transaction().execute(async (trx) => audit.append(event(3), trx));
    const rows = await database.handle.db.selectFrom('audit_log').select(['id', 'summary']).orderBy('id').execute();
    expect(rows).toEqual([
      { id: 1, summary: 'decision 1' },
      { id: 2, summary: 'decision 3' },
    ]);
    expect(await audit.verify()).toMatchObject({ ok: true, rows: 2 });
  });

  it('keeps one unbroken chain under 50 appends at once (several connections on PostgreSQL)', async () => {
    // two stores on one database stand for two replicas
    const other = new AuditStore(database.handle.db);
    await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? audit : other).append(event(i + 1))));
    const rows = await database.handle.db.selectFrom('audit_log').select(['id', 'summary']).orderBy('id').execute();
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(new Set(rows.map((r) => r.summary)).size).toBe(50);
    expect(await audit.verify()).toMatchObject({ ok: true, rows: 50 });
  });

  it('finds a row whose data was changed in the database', async () => {
    for (let n = 1; n <= 5; n++) await audit.append(event(n));
    await withAuditTriggerOff(database.handle.db, () => sql`update audit_log set data = '{"n": 99}' where id = 3`.execute(database.handle.db));
    const result = await audit.verify();
    expect(result).toMatchObject({ ok: false, rows: 2, broken: { id: 3, kind: 'decision', reason: 'content-changed', message: 'content does not match its hash (changed after it was written)' } });
  });

  it('finds a row that was changed and re-hashed, at the next row, whose link no longer matches', async () => {
    for (let n = 1; n <= 3; n++) await audit.append(event(n));
    const row2 = (await audit.page({ after: 1, limit: 1 })).entries[0]!;
    const forged = { ...row2, summary: 'nothing to see' };
    await withAuditTriggerOff(database.handle.db, () => sql`update audit_log set summary = ${forged.summary}, hash = ${entryHash(row2.prevHash, forged)} where id = 2`.execute(database.handle.db));
    expect(await audit.verify()).toMatchObject({ ok: false, rows: 2, broken: { id: 3, reason: 'prev-hash-mismatch', message: 'prev_hash does not match the hash of row #2 (a row before it was replaced)' } });
  });

  it('finds a deleted row as a gap in the ids', async () => {
    for (let n = 1; n <= 5; n++) await audit.append(event(n));
    await withAuditTriggerOff(database.handle.db, () => sql`delete from audit_log where id = 4`.execute(database.handle.db));
    expect(await audit.verify()).toMatchObject({ ok: false, rows: 3, broken: { id: 4, reason: 'row-missing', message: 'missing: the rows go from #3 to #5 (row #4 deleted)' } });
  });

  it('pages in id order, filtered by kind and rollout', async () => {
    for (let n = 1; n <= 5; n++) await audit.append(event(n, n % 2 === 0 ? { kind: 'step-started', rolloutId: 7 } : {}));
    const first = await audit.page({ limit: 2 });
    expect(first.entries.map((e) => e.id)).toEqual([1, 2]);
    expect(first.next).toBe(2);
    const second = await audit.page({ after: 2, limit: 2 });
    expect(second.entries.map((e) => e.id)).toEqual([3, 4]);
    const last = await audit.page({ after: 4, limit: 2 });
    expect(last).toMatchObject({ next: null });
    expect(last.entries.map((e) => e.id)).toEqual([5]);
    expect((await audit.page({ limit: 10, kind: 'step-started' })).entries.map((e) => e.id)).toEqual([2, 4]);
    expect((await audit.page({ limit: 10, rolloutId: 7 })).entries.map((e) => e.id)).toEqual([2, 4]);
    expect((await audit.page({ limit: 10, rolloutId: 3 })).entries).toEqual([
      expect.objectContaining({ id: 3, kind: 'decision', actor: 'rollgate', rolloutId: 3, project: 'payments/api', changeNumber: 103, summary: 'decision 3', data: { n: 3 }, at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) }),
    ]);
  });
});
