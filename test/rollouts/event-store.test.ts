import { afterEach, describe, expect, it } from 'vitest';
import type { NewEvent } from '../../src/db/schema.js';
import { EventStore } from '../../src/rollouts/event-store.js';
import { BACKENDS, openTestDatabase } from '../helpers/backends.js';

function row(key: string, raw: string, extra: Partial<NewEvent> = {}): NewEvent {
  return { dedup_key: key, source: 'stream', type: 'ref-updated', raw, status: 'ignored', reason: 'event type ref-updated is not used by rollgate', received_at: new Date('2026-12-07T10:00:00.123Z'), event_created_on: 1765101600, processed_at: new Date('2026-12-07T10:00:00.123Z'), ...extra };
}

describe.each(BACKENDS)('%s: event store batch insert', (backend) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  async function open() {
    const opened = await openTestDatabase(backend);
    cleanup = opened.cleanup;
    return { db: opened.handle.db, store: new EventStore(opened.handle.db) };
  }

  it('stores a batch in its order, a repeat within it once (the first) and one stored before not at all, and says which were new', async () => {
    const { db, store } = await open();
    expect([...(await store.insertNew([row('a', '{"n":1}'), row('b', '{"n":2}'), row('a', '{"n":3}'), row('c', '{"n":4}')]))].sort()).toEqual(['a', 'b', 'c']);
    expect([...(await store.insertNew([row('b', '{"n":5}'), row('d', '{"n":6}'), row('d', '{"n":7}')]))]).toEqual(['d']);
    expect(await store.insertNew([row('a', '{"n":8}')])).toEqual(new Set());

    const rows = await db.selectFrom('events').select(['dedup_key', 'raw']).orderBy('id').execute();
    expect(rows).toEqual([
      { dedup_key: 'a', raw: '{"n":1}' },
      { dedup_key: 'b', raw: '{"n":2}' },
      { dedup_key: 'c', raw: '{"n":4}' },
      { dedup_key: 'd', raw: '{"n":6}' },
    ]);
  });

  it('keeps every column as given, and leaves received_at, not_before and attempts to their defaults when a row has none', async () => {
    const { db, store } = await open();
    const before = Date.now();
    await store.insertNew([
      row('given', '{"type":"change-merged"}', { type: 'change-merged', status: 'pending', reason: null, processed_at: null, not_before: new Date('2026-12-07T10:00:05.123Z'), event_created_on: 1765101599 }),
      { dedup_key: 'defaults', source: 'webhook', type: null, raw: 'not json', status: 'rejected', reason: 'not JSON: Unexpected token', event_created_on: null, processed_at: '2026-12-07T10:00:00.5Z' },
    ]);
    const rows = await db.selectFrom('events').selectAll().orderBy('id').execute();
    expect(rows[0]).toMatchObject({ dedup_key: 'given', source: 'stream', type: 'change-merged', raw: '{"type":"change-merged"}', status: 'pending', reason: null, event_created_on: 1765101599, attempts: 0, processed_at: null });
    expect(rows[0]!.received_at.toISOString()).toBe('2026-12-07T10:00:00.123Z');
    expect(rows[0]!.not_before.toISOString()).toBe('2026-12-07T10:00:05.123Z');
    expect(rows[1]).toMatchObject({ dedup_key: 'defaults', source: 'webhook', type: null, raw: 'not json', status: 'rejected', reason: 'not JSON: Unexpected token', event_created_on: null, attempts: 0 });
    expect(rows[1]!.processed_at!.toISOString()).toBe('2026-12-07T10:00:00.500Z');
    expect(rows[1]!.received_at.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(rows[1]!.not_before.getTime()).toBeGreaterThanOrEqual(before - 1000);
  });

  it('stores lines with a newline or nothing in them, and text PostgreSQL refuses made storable, in one batch or alone', async () => {
    const { db, store } = await open();
    const lines = ['{"type":"x",\n "pretty": true}', '', 'a\u0000b', '{"k":"\\u0000","s":"\\ud800"}', 'lone \uD800 half', '\\u0000 outside JSON'];
    const stored = ['{"type":"x",\n "pretty": true}', '', 'a\uFFFDb', '{"k":"\\ufffd","s":"\\ufffd"}', 'lone \uFFFD half', '\\u0000 outside JSON'];
    // all in one batch (one of them has a newline), then each without a newline in a batch of its own kind
    await store.insertNew(lines.map((raw, i) => row(`mixed-${i}`, raw)));
    await store.insertNew(lines.slice(2).map((raw, i) => row(`plain-${i}`, raw)));
    const rows = await db.selectFrom('events').select(['dedup_key', 'raw']).orderBy('id').execute();
    expect(rows.filter((r) => r.dedup_key.startsWith('mixed-')).map((r) => r.raw)).toEqual(stored);
    expect(rows.filter((r) => r.dedup_key.startsWith('plain-')).map((r) => r.raw)).toEqual(stored.slice(2));
  });
});
