import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase, migrateToLatest, type DatabaseHandle } from '../../src/db/database.js';
import { LeaderLease, sqlOverKysely } from '../../src/db/leader-lease.js';
import { StreamLeader } from '../../src/intake/stream-leader.js';
import { silentLogger } from '../../src/log.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';

/** A leader whose stream is a flag, recording what it was told. */
function leaderOn(database: DatabaseHandle, pollMs = 100, lease = { leaseMs: 1000, renewMs: 200 }) {
  const log: string[] = [];
  let streaming = false;
  const leader = new StreamLeader({
    database,
    logger: silentLogger(),
    pollMs,
    ...lease,
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
    const migrated = await migrateToLatest(handle.db);
    if (migrated.error !== undefined) throw migrated.error;
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

  it.each(backend === 'pglite' ? ['pglite'] : [])('on %s (one process): leads with no lease, and may act until stopped', async () => {
    const test = await fresh();
    const handle = await open(test);
    const a = started(leaderOn(handle, 100, { leaseMs: 500, renewMs: 100 }));
    expect(a.leader.isLeader).toBe(true);
    expect(a.leader.generation).toBe(0);
    // far past any lease: nothing to renew, nothing lapses
    await new Promise((r) => setTimeout(r, 800));
    expect(a.leader.mayAct()).toBe(true);
    expect(a.log).toEqual(['gain']);
    expect(await handle.db.selectFrom('leader_leases').selectAll().execute()).toEqual([]);
  });

  const holderSession = async (admin: pg.Client) => (await admin.query<{ holder_pid: number; generation: number }>(`select holder_pid, generation::int as generation from leader_leases`)).rows;

  it.each(backend === 'postgres' ? ['postgres'] : [])('on %s: a leader whose lease session is killed keeps its stream and renews over a new session, at the same generation', async () => {
    const test = await fresh();
    const a = started(leaderOn(await open(test)));
    await waitFor('a to lead', () => a.leader.isLeader, 5000);
    expect(a.leader.generation).toBe(1);

    const admin = new pg.Client({ connectionString: test.url });
    await admin.connect();
    cleanups.push(() => admin.end());
    const pid = (await holderSession(admin))[0]!.holder_pid;
    expect(pid).toBeTypeOf('number');
    await admin.query('select pg_terminate_backend($1)', [pid]);

    // the lease now names a's new session, still at generation 1
    await waitFor('a to renew over a new session', async () => (await holderSession(admin))[0]!.holder_pid !== pid, 5000);
    expect(await holderSession(admin)).toEqual([expect.objectContaining({ generation: 1 })]);
    expect(a.leader.isLeader).toBe(true);
    expect(a.leader.mayAct()).toBe(true);
    expect(a.leader.terms).toBe(1);
    expect(a.log).toEqual(['gain']);
  });

  it.each(backend === 'postgres' ? ['postgres'] : [])('on %s: a leader whose session was lost and whose lease was taken over meanwhile stops its stream when its renewal is refused', async () => {
    const test = await fresh();
    const a = started(leaderOn(await open(test)));
    await waitFor('a to lead', () => a.leader.isLeader, 5000);

    const admin = new pg.Client({ connectionString: test.url });
    await admin.connect();
    cleanups.push(() => admin.end().catch(() => undefined));
    const pid = (await holderSession(admin))[0]!.holder_pid;
    // statistics views hold still inside a transaction: what a does is watched from outside one
    const observer = new pg.Client({ connectionString: test.url });
    await observer.connect();
    cleanups.push(() => observer.end());
    // a's renewal over its new session waits on this lock while another replica takes the lease
    await admin.query('begin');
    await admin.query(`select * from leader_leases for update`);
    await admin.query('select pg_terminate_backend($1)', [pid]);
    await waitFor('a to renew over a new session, held up', async () => {
      const { rows } = await observer.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like 'update leader_leases%'`);
      return rows[0]!.n === 1;
    }, 5000);
    expect(a.leader.isLeader).toBe(true);
    // the other replica's take, as LeaderLease.take writes it (its session is the admin's, alive)
    await admin.query(
      `update leader_leases set holder = 'another replica', generation = generation + 1, expires_at = now() + interval '1 minute',
         holder_pid = pg_backend_pid(), holder_backend_start = (select backend_start from pg_stat_activity where pid = pg_backend_pid())`,
    );
    await admin.query('commit');

    await waitFor('a to stop its stream', () => !a.leader.isLeader && !a.streaming(), 3000);
    expect(a.log).toEqual(['gain', 'lose: the lease was taken over by another replica (generation 2): renewal of generation 1 refused']);
    // and it stays a follower while the other holds the lease
    await new Promise((r) => setTimeout(r, 600));
    expect(a.leader.isLeader).toBe(false);
    expect(a.log).toHaveLength(2);
  });

  it.each(backend === 'postgres' ? ['postgres'] : [])('on %s: a leader that cannot renew stops its stream at its own deadline, before the lease lapses in the database; then a follower takes over at the next generation', async () => {
    const test = await fresh();
    const a = started(leaderOn(await open(test), 100, { leaseMs: 1500, renewMs: 300 }));
    await waitFor('a to lead', () => a.leader.isLeader, 5000);
    const b = started(leaderOn(await open(test), 100, { leaseMs: 1500, renewMs: 300 }));

    // renewals hang on the row lock held here, as they would on a server that stops answering
    const admin = new pg.Client({ connectionString: test.url });
    await admin.connect();
    cleanups.push(() => admin.end().catch(() => undefined));
    await admin.query('begin');
    await admin.query(`select * from leader_leases for update`);
    const blockedAt = Date.now();
    const expiresAt = (await admin.query<{ expires_at: Date }>('select expires_at from leader_leases')).rows[0]!.expires_at;

    await waitFor('a to stop its stream', () => !a.leader.isLeader && !a.streaming(), 5000);
    const stoppedAt = Date.now();
    expect(a.log[1]).toMatch(/^lose: could not renew the lease before its deadline/);
    expect(a.leader.mayAct()).toBe(false);
    // a stopped by its own clock, by the time the database would let anyone take over (its
    // deadline is never later than the expiry; the slack is for a timer run late on a busy machine)
    expect(stoppedAt).toBeLessThanOrEqual(expiresAt.getTime() + 100);
    expect(stoppedAt - blockedAt).toBeLessThan(1500 + 300);
    expect(b.leader.isLeader).toBe(false);

    await admin.query('commit');
    await waitFor('one of them to lead again', () => a.leader.isLeader || b.leader.isLeader, 5000);
    const lease = new LeaderLease(sqlOverKysely((await open(test)).db));
    expect((await lease.current())!.generation).toBe(2);
    expect([a, b].filter((x) => x.streaming())).toHaveLength(1);
  });
});
