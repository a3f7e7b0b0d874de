import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { STREAM_LEADER_LOCK_KEY, StreamLeader } from '../../src/intake/stream-leader.js';
import { silentLogger } from '../../src/log.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';

/** A leader whose stream is a flag, recording what it was told. */
function leaderOn(database: DatabaseHandle, pollMs = 100) {
  const log: string[] = [];
  let streaming = false;
  const leader = new StreamLeader({
    database,
    logger: silentLogger(),
    pollMs,
    onGain: () => {
      // fencing: never started twice without a stop in between
      expect(streaming).toBe(false);
      streaming = true;
      log.push('gain');
    },
    onLose: async (reason) => {
      await new Promise((r) => setTimeout(r, 20));
      streaming = false;
      log.push(`lose: ${reason}`);
    },
  });
  return { leader, log, streaming: () => streaming };
}

describe.each(BACKENDS)('%s: StreamLeader', (backend) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  const open = async (test: TestDatabase) => {
    const handle = await createDatabase(test.target);
    cleanups.push(() => handle.close());
    return handle;
  };
  const fresh = async () => {
    const test = await createTestDatabase(backend);
    cleanups.push(() => test.drop());
    return test;
  };
  const started = (x: ReturnType<typeof leaderOn>) => {
    x.leader.start();
    cleanups.push(() => x.leader.stop());
    return x;
  };

  it('leads at once when the database is this process alone, and gives up on stop()', async () => {
    const test = await fresh();
    const handle = await open(test);
    const a = leaderOn(handle);
    if (backend === 'pglite') {
      expect(handle.singleConnection).toBe(true);
      expect(handle.dedicatedConnection).toBeUndefined();
      a.leader.start();
      expect(a.leader.isLeader).toBe(true);
      expect(a.streaming()).toBe(true);
    } else {
      a.leader.start();
      await waitFor('leadership', () => a.leader.isLeader, 5000);
    }
    await a.leader.stop();
    expect(a.leader.isLeader).toBe(false);
    expect(a.streaming()).toBe(false);
    expect(a.log).toEqual(['gain', 'lose: stopping']);
  });

  it.each(backend === 'postgres' ? ['postgres'] : [])('on %s: one of two leads; stop() releases the lock and the other takes over', async () => {
    const test = await fresh();
    const a = started(leaderOn(await open(test)));
    await waitFor('a to lead', () => a.leader.isLeader, 5000);
    const b = started(leaderOn(await open(test)));
    // b keeps trying and keeps failing while a holds the lock
    await new Promise((r) => setTimeout(r, 500));
    expect(b.leader.isLeader).toBe(false);
    expect(b.log).toEqual([]);

    await a.leader.stop();
    expect(a.streaming()).toBe(false);
    await waitFor('b to take over', () => b.leader.isLeader, 3000);
    expect(b.streaming()).toBe(true);
    expect(b.leader.terms).toBe(1);
    expect(a.log).toEqual(['gain', 'lose: stopping']);
  });

  it.each(backend === 'postgres' ? ['postgres'] : [])('on %s: a leader whose lock session is killed stops its stream before anyone else leads, and leads again later', async () => {
    const test = await fresh();
    const a = started(leaderOn(await open(test)));
    await waitFor('a to lead', () => a.leader.isLeader, 5000);

    // the lock holder's backend, as PostgreSQL sees it
    const admin = new pg.Client({ connectionString: test.url });
    await admin.connect();
    cleanups.push(() => admin.end());
    const key = BigInt(STREAM_LEADER_LOCK_KEY);
    const holder = async () => {
      const { rows } = await admin.query<{ pid: number }>(
        `select pid from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())
           and classid = $1::bigint::oid and objid = $2::bigint::oid`,
        [String(key >> 32n), String(key & 0xffffffffn)],
      );
      return rows.map((r) => r.pid);
    };
    const [pid] = await holder();
    expect(pid).toBeTypeOf('number');
    await admin.query('select pg_terminate_backend($1)', [pid]);

    await waitFor('a to notice and stop streaming', () => !a.leader.isLeader && !a.streaming(), 3000);
    expect(a.log[1]).toMatch(/^lose: lock connection failed/);
    // with nobody else competing, a takes the lock again on a new session
    await waitFor('a to lead again', () => a.leader.isLeader, 5000);
    expect(a.leader.terms).toBe(2);
    expect((await holder()).length).toBe(1);
    expect((await holder())[0]).not.toBe(pid);
  });
});
