import { afterEach, describe, expect, it } from 'vitest';
import type { NewEvent } from '../../src/db/schema.js';
import { EventStore } from '../../src/rollouts/event-store.js';
import { Intake } from '../../src/intake/intake.js';
import { silentLogger } from '../../src/log.js';
import { BACKENDS, openTestDatabase } from '../helpers/backends.js';
import { bob, changeMergedEvent, mergedChange } from '../helpers/change-events.js';

/** The real store, with the second insert failing once (a database hiccup mid-backlog). */
class FlakyStore extends EventStore {
  calls = 0;
  override async insertNew(events: readonly NewEvent[]): Promise<Set<string>> {
    this.calls += 1;
    if (this.calls === 2) throw new Error('connection terminated unexpectedly');
    return super.insertNew(events);
  }
}

describe.each(BACKENDS)('%s: intake writer', (backend) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it('stores a backlog written in parallel batches exactly once, even when one batch fails and is retried', async () => {
    const opened = await openTestDatabase(backend);
    cleanup = opened.cleanup;
    const db = opened.handle.db;
    const store = new FlakyStore(db);
    const intake = new Intake({ store, logger: silentLogger(), settleMs: 0, onStored: () => {}, parallelWrites: opened.handle.singleConnection ? 1 : 4 });
    const lines = Array.from({ length: 2_000 }, (_, i) => JSON.stringify(changeMergedEvent(mergedChange(i + 1, bob))));
    lines.push('{"type": "change-merged", not json');
    for (const text of lines) intake.accept({ kind: 'line', text }, 'stream');
    expect(intake.pending).toBe(lines.length);
    await intake.flush();

    expect(intake.pending).toBe(0);
    expect(store.calls).toBeGreaterThan(2);
    const rows = await db.selectFrom('events').select(['status', 'raw']).execute();
    expect(rows.length).toBe(lines.length);
    expect(new Set(rows.map((r) => r.raw)).size).toBe(lines.length);
    expect(rows.filter((r) => r.status === 'rejected').map((r) => r.raw)).toEqual(['{"type": "change-merged", not json']);
  });
});
