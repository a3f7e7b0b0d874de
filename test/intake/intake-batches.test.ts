import { afterEach, describe, expect, it } from 'vitest';
import { Intake } from '../../src/intake/intake.js';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { EventStore } from '../../src/rollouts/event-store.js';
import { sample } from '../metrics/metrics-text.js';
import { BACKENDS, openTestDatabase } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, commentAddedEvent, mergedChange } from '../helpers/change-events.js';

describe.each(BACKENDS)('%s: intake batches', (backend) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it('stores an event repeated within a batch and across batches once, keeps rejected lines with their reasons, and counts each line once', async () => {
    const opened = await openTestDatabase(backend);
    cleanup = opened.cleanup;
    const db = opened.handle.db;
    const metrics = new Metrics();
    const intake = new Intake({ store: new EventStore(db), logger: silentLogger(), settleMs: 0, onStored: () => {}, metrics, parallelWrites: opened.handle.singleConnection ? 1 : 4 });
    const merges = Array.from({ length: 1_200 }, (_, i) => JSON.stringify(changeMergedEvent(mergedChange(i + 1, bob))));
    const refUpdated = JSON.stringify({ type: 'ref-updated', refUpdate: { refName: 'refs/heads/main', project: 'p' }, eventCreatedOn: 1765101600 });
    const lines = [
      ...merges.slice(0, 600),
      merges[3]!, // repeated within the first batch of 500
      merges[550]!, // repeated within the second
      refUpdated,
      merges[10]!, // repeated across batches
      '{"type": "change-merged", not json',
      JSON.stringify({ type: 'change-merged', change: { project: 'p', branch: 'main', number: 1 } }),
      refUpdated,
      JSON.stringify(commentAddedEvent(mergedChange(1, bob), alice, 'fine')),
      ...merges.slice(600),
      merges[1_199]!,
    ];
    for (const text of lines) intake.accept({ kind: 'line', text }, 'stream');
    await intake.flush();

    const rows = await db.selectFrom('events').select(['status', 'type', 'reason', 'raw']).orderBy('id').execute();
    expect(rows.length).toBe(1_200 + 1 + 2 + 1);
    // batches written in parallel (PostgreSQL) commit in any order
    expect(rows.filter((r) => r.type === 'change-merged' && r.status === 'pending').map((r) => r.raw).sort()).toEqual([...merges].sort());
    expect(rows.filter((r) => r.status === 'rejected').map((r) => [r.raw, r.reason])).toEqual([
      ['{"type": "change-merged", not json', expect.stringMatching(/^not JSON: /)],
      [JSON.stringify({ type: 'change-merged', change: { project: 'p', branch: 'main', number: 1 } }), expect.stringMatching(/^change-merged event: patchSet: /)],
    ]);
    expect(rows.filter((r) => r.status === 'ignored').map((r) => [r.type, r.reason])).toEqual([['ref-updated', 'event type ref-updated is not used by rollgate']]);

    const text = (await metrics.scrape()).body;
    expect(sample(text, 'rollgate_events_received_total{type="change-merged",source="stream"}')).toBe(1_200 + 4 + 1);
    expect(sample(text, 'rollgate_events_stored_total{type="change-merged",source="stream"}')).toBe(1_200 + 1);
    expect(sample(text, 'rollgate_events_deduplicated_total{type="change-merged",source="stream"}')).toBe(4);
    expect(sample(text, 'rollgate_events_rejected_total{type="change-merged",source="stream"}')).toBe(1);
    expect(sample(text, 'rollgate_events_rejected_total{type="unknown",source="stream"}')).toBe(1);
    expect(sample(text, 'rollgate_events_deduplicated_total{type="ref-updated",source="stream"}')).toBe(1);
  });
});
