import { describe, expect, it } from 'vitest';
import { LeaderLease, sqlOverClient, sqlOverKysely } from '../../src/db/leader-lease.js';
import { BACKENDS, openTestDatabaseForSuite } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The stream leader's lease row, judged by the database's clock. The SQL is the same on both
 * backends, so it is checked on both; only PostgreSQL has several processes to use it (on
 * PGlite the one process leads without a lease: see stream-leader.test.ts).
 */
describe.each(BACKENDS)('%s: LeaderLease', (backend) => {
  const suite = openTestDatabaseForSuite(backend);
  let n = 0;
  // each test its own lease row, so the tests do not meet
  const lease = () => new LeaderLease(sqlOverKysely(suite.handle.db), `test-${backend}-${++n}`);

  it('is taken by the first holder at generation 1, and refused to another while it runs', async () => {
    const l = lease();
    expect(await l.current()).toBeUndefined();
    expect(await l.take('a', 10_000)).toBe(1);
    expect(await l.take('b', 10_000)).toBeUndefined();
    const now = await l.current();
    expect(now).toMatchObject({ holder: 'a', generation: 1, lapsed: false });
    expect(now!.expiresAt.getTime()).toBeGreaterThan(Date.now() + 5_000);
  });

  it('is renewed only by its holder at its generation, which pushes the expiry forward', async () => {
    const l = lease();
    const generation = (await l.take('a', 300))!;
    const before = (await l.current())!.expiresAt.getTime();
    expect(await l.renew('a', generation, 10_000)).toBe(true);
    expect((await l.current())!.expiresAt.getTime()).toBeGreaterThan(before + 5_000);
    expect(await l.renew('b', generation, 10_000)).toBe(false);
    expect(await l.renew('a', generation + 1, 10_000)).toBe(false);
    expect(await l.current()).toMatchObject({ holder: 'a', generation: 1 });
  });

  it('lapses when not renewed: another holder takes it over at the next generation, and the old holder can no longer renew', async () => {
    const l = lease();
    expect(await l.take('a', 200)).toBe(1);
    await sleep(350);
    expect(await l.current()).toMatchObject({ holder: 'a', lapsed: true });
    // a lapsed lease is not renewed, even when nobody has taken it yet
    expect(await l.renew('a', 1, 10_000)).toBe(false);
    expect(await l.take('b', 10_000)).toBe(2);
    expect(await l.current()).toMatchObject({ holder: 'b', generation: 2, lapsed: false });
    // the stale leader's renewal names generation 1: refused, and the row is left as it was
    expect(await l.renew('a', 1, 10_000)).toBe(false);
    expect(await l.take('a', 10_000)).toBeUndefined();
    expect(await l.current()).toMatchObject({ holder: 'b', generation: 2 });
    // every takeover counts one more
    await l.release('b', 2);
    expect(await l.take('c', 10_000)).toBe(3);
  });

  it('is handed over at once on release, and a stale release does nothing', async () => {
    const l = lease();
    expect(await l.take('a', 10_000)).toBe(1);
    await l.release('a', 7);
    expect(await l.take('b', 10_000)).toBeUndefined();
    await l.release('a', 1);
    expect(await l.current()).toMatchObject({ holder: 'a', lapsed: true });
    expect(await l.take('b', 10_000)).toBe(2);
  });

  it('is taken again by its own holder at a new generation (a leader that ended its term by its own deadline)', async () => {
    const l = lease();
    expect(await l.take('a', 10_000)).toBe(1);
    expect(await l.take('a', 10_000)).toBe(2);
    expect(await l.renew('a', 1, 10_000)).toBe(false);
    expect(await l.renew('a', 2, 10_000)).toBe(true);
  });

  it(backend === 'postgres'
    ? 'is taken over at once when the holder\'s database session has ended, before it lapses'
    : 'on PGlite, one session in one process: the holder\'s session never ends, so the lease is taken over only once it lapses', async () => {
    const l = lease();
    if (backend === 'pglite') {
      expect(await l.take('a', 300)).toBe(1);
      expect(await l.take('b', 10_000)).toBeUndefined();
      await sleep(400);
      expect(await l.take('b', 10_000)).toBe(2);
      return;
    }
    // the holder takes it over a connection of its own, then that session ends (as on kill -9)
    const own = suite.handle.dedicatedConnection!();
    await own.connect();
    const held = new LeaderLease(sqlOverClient(own), l.name);
    expect(await held.take('a', 60_000)).toBe(1);
    expect(await l.take('b', 60_000)).toBeUndefined();
    await own.end();
    await waitFor('the session to be gone', async () => (await l.take('b', 60_000)) ?? false, 5000);
    expect(await l.current()).toMatchObject({ holder: 'b', generation: 2, lapsed: false });
  });

  it('lets exactly one of many simultaneous takers have a lapsed lease', async () => {
    const l = lease();
    expect(await l.take('old', 100)).toBe(1);
    await sleep(250);
    const results = await Promise.all(['p', 'q', 'r', 's', 't'].map((h) => l.take(h, 10_000)));
    expect(results.filter((g) => g !== undefined)).toEqual([2]);
  });
});
