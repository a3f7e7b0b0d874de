import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { changeMergedEvent } from '../helpers/change-events.js';
import { waitFor } from '../helpers/wait-for.js';
import { startFaultRig, type FaultRig } from './fault-harness.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from './throwaway-postgres.js';

// a real server is needed to stop and start; without TEST_DATABASE_URL backends.ts says loudly
// that the PostgreSQL backend is not tested (and in CI it is always set)
describe.runIf(BACKENDS.includes('postgres'))('postgres: the database stopped and started while rollgate runs', () => {
  let pg: ThrowawayPostgres;
  let rig: FaultRig;

  beforeAll(async () => {
    pg = await startThrowawayPostgres();
    rig = await startFaultRig({ databaseUrl: pg.url });
  }, 60_000);

  afterAll(async () => {
    try {
      pg?.start();
    } catch {
      // already running
    }
    await rig?.stop();
    pg?.destroy();
  });

  it('a merge streamed while the database is down is stored, rolled out and reported once it is back', async () => {
    const { ssh, service, approvedMerge, expectRolledOutOnce } = rig;
    const before = approvedMerge(251);
    ssh.push(changeMergedEvent(before));
    await expectRolledOutOnce(before);

    pg.stop();
    await waitFor('the database to be unreachable', async () => {
      try {
        await service.database.db.selectFrom('events').select('id').limit(1).execute();
        return false;
      } catch {
        return true;
      }
    });
    const during = approvedMerge(252);
    ssh.push(changeMergedEvent(during));
    // the line is received and kept in memory while nothing can be written
    await waitFor('the line held in memory', () => service.intake.pending > 0);
    await new Promise((r) => setTimeout(r, 500)); // a few failed writes (setup, not an assertion)
    expect(service.intake.pending).toBeGreaterThan(0);
    pg.start();

    await expectRolledOutOnce(during);
    const stored = await service.database.db.selectFrom('events').select(['source']).where('type', '=', 'change-merged').where('raw', 'like', `%"number":252%`).execute();
    expect(stored.map((e) => e.source)).toContain('stream');
    // and what ran before the outage did not run again
    await expectRolledOutOnce(before);
  }, 90_000);
});
