import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../src/db/database.js';
import type { GerritClient, MergedChangeRef } from '../../src/gerrit/gerrit-client.js';
import { Backfill } from '../../src/intake/backfill.js';
import { CheckpointStore } from '../../src/rollouts/checkpoint-store.js';
import { EventStore } from '../../src/rollouts/event-store.js';
import { Intake } from '../../src/intake/intake.js';
import { silentLogger } from '../../src/log.js';
import { BACKENDS, openTestDatabase } from '../helpers/backends.js';

describe.each(BACKENDS)('%s: back-fill', (backend) => {
  let handle: DatabaseHandle;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ handle, cleanup } = await openTestDatabase(backend));
  });
  afterAll(async () => {
    await cleanup();
  });

  it('stores the merges it finds oldest merge first, whatever order Gerrit lists them in', async () => {
    const merged = (number: number, minute: number): MergedChangeRef => ({
      project: 'payments/api',
      branch: 'main',
      number,
      changeId: `I${number}`,
      subject: `Change ${number}`,
      currentRevision: number.toString(16).padStart(40, 'a'),
      currentPatchSet: 1,
      submitted: new Date(Date.UTC(2026, 0, 5, 10, minute)),
    });
    // Gerrit answers newest-updated first; change 7 was updated last but merged first
    const gerrit = { queryMergedSince: async () => [merged(7, 1), merged(9, 3), merged(8, 2)] } as unknown as GerritClient;
    const checkpoints = new CheckpointStore(handle.db);
    await checkpoints.set('backfill.merged-since', { at: new Date(Date.UTC(2026, 0, 5, 9)).toISOString() });
    const intake = new Intake({ store: new EventStore(handle.db), logger: silentLogger(), settleMs: 0, onStored: () => {} });
    const backfill = new Backfill({ gerrit, intake, checkpoints, logger: silentLogger() });
    expect(await backfill.sweep('test')).toBe(3);
    const rows = await handle.db.selectFrom('events').select(['raw', 'source']).orderBy('id').execute();
    expect(rows.map((r) => (JSON.parse(r.raw) as { change: { number: number } }).change.number)).toEqual([7, 8, 9]);
    expect(rows.map((r) => (JSON.parse(r.raw) as { eventCreatedOn: number }).eventCreatedOn)).toEqual([1, 2, 3].map((m) => Date.UTC(2026, 0, 5, 10, m) / 1000));
  });
});
