import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/database.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, carol, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { serveSetup, ServeProcess, type ServeSetup } from '../helpers/serve-process.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * Issue 18's "a hung leader is never replaced": three `rollgate serve` processes on one
 * PostgreSQL; the stream leader is stopped with SIGSTOP (it keeps its TCP sessions, so nothing
 * but the lease can tell it is gone). Another replica takes the stream over within the bound
 * the docs give (lease + poll + stream connect), the merge made meanwhile rolls out once, and
 * the old leader, woken with SIGCONT, says it lost the leadership and does nothing more as the
 * leader: it stores no line its old stream still held and does not open the stream again.
 */
const LEASE_MS = 2000;
const RENEW_MS = 500;
const POLL_MS = 300;
/** Opening the SSH stream on a busy 2-core machine, on top of lease + poll. */
const CONNECT_MS = 1500;

const WORKFLOW = `name: deploy-service
steps:
  - id: build
    run: ["./ops/step.mjs", "build", "--", "\${change.number}"]
  - id: deploy
    needs: [build]
    run: ["./ops/step.mjs", "deploy", "--", "\${change.number}"]
`;

const LEADS = '"msg":"this replica is now the Gerrit stream leader"';
const LOST = '"msg":"lost the Gerrit stream leadership; stopping the stream"';
const SWEPT = '"reason":"scheduled sweep"';
const count = (text: string, what: string) => text.split(what).length - 1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(BACKENDS)('%s: a hung stream leader', (backend) => {
  let ssh: SshGerritDouble;
  let rest: RestGerritDouble;
  let database: TestDatabase;
  let setup: ServeSetup;
  const running: ServeProcess[] = [];

  beforeAll(async () => {
    ssh = await startSshGerritDouble();
    rest = await startRestGerritDouble();
    rest.addAccount(alice, [GROUPS.sre]);
    rest.addAccount(bob, [GROUPS.developers]);
    rest.addAccount(carol, []);
    database = await createTestDatabase(backend);
    setup = serveSetup({
      name: 'leader-hang',
      workflow: WORKFLOW,
      database,
      ssh,
      rest,
      env: {
        ROLLGATE_LEADER_POLL_MS: String(POLL_MS),
        ROLLGATE_LEADER_LEASE_MS: String(LEASE_MS),
        ROLLGATE_LEADER_RENEW_MS: String(RENEW_MS),
        // the scheduled sweep every 2 s, to see which replica runs it
        ROLLGATE_BACKFILL_CRON: '*/2 * * * * *',
      },
    });
  });

  afterEach(async () => {
    for (const r of running.splice(0)) {
      r.child.kill('SIGCONT');
      r.child.kill('SIGKILL');
      await r.exited;
    }
  });

  afterAll(async () => {
    await database?.drop();
    await ssh?.close();
    await rest?.close();
  });

  const start = async () => {
    const r = new ServeProcess(setup.env);
    running.push(r);
    await r.ready();
    return r;
  };
  const reviewsOf = (change: number) => rest.reviews.filter((r) => r.changeNumber === change);
  const change = (number: number, extra: Parameters<typeof mergedChange>[2] = {}) =>
    mergedChange(number, bob, {
      commitMessage: `Change ${number}\n\nRollout-Justification: hung leader test\n`,
      votes: { 'Code-Review': [{ account: alice, value: 2 }] },
      ...extra,
    });
  const gerritNow = () => new Date().toISOString().replace('T', ' ').replace('Z', '000000');
  const expectRolledOutOnce = (n: number) => {
    expect(reviewsOf(n).filter((r) => r.message.includes('STARTED'))).toHaveLength(1);
    expect(reviewsOf(n).filter((r) => r.message.includes('SUCCEEDED'))).toHaveLength(1);
    const starts = setup.calls().filter((c) => c.event === 'start' && c.args[0] === String(n));
    expect(starts.map((c) => c.name).sort()).toEqual(['build', 'deploy']);
  };

  it.each(backend === 'pglite' ? ['pglite'] : [])(
    'on %s there is one process and no lease: it leads for as long as it runs, and a second process on the folder is refused',
    async () => {
      const only = await start();
      await waitFor('its stream session', () => ssh.sessions === 1);
      expect(only.stdout).toMatch(/"how":"single-process database"[^\n]*"msg":"this replica is now the Gerrit stream leader"/);
      // well past several leases: nothing lapses, nobody else could take over
      await sleep(LEASE_MS * 2);
      expect(count(only.stdout, LEADS)).toBe(1);
      expect(only.stdout).not.toContain(LOST);
      expect(ssh.sessions).toBe(1);
      const second = new ServeProcess(setup.env);
      running.push(second);
      expect(await second.exited).toBe(1);
    },
    90_000,
  );

  it.each(backend === 'postgres' ? ['postgres'] : [])(
    'on %s a SIGSTOPped leader is replaced within lease + poll + connect, the merge made meanwhile rolls out once, and after SIGCONT the old leader stands down and stays down',
    async () => {
      const replicas = await Promise.all([start(), start(), start()]);
      await waitFor('one stream session', () => ssh.sessions === 1);
      const [leader, ...followers] = [...replicas].sort((a, b) => Number(b.leads) - Number(a.leads));
      expect(leader!.leads).toBe(true);
      expect(followers.filter((f) => f.leads)).toHaveLength(0);

      // a merge on the stream first, so the back-fill checkpoint exists and the pipeline has run
      const before = change(501);
      rest.setChange(before);
      ssh.push(changeMergedEvent(before));
      await waitFor('change 501 to finish', () => reviewsOf(501).some((r) => r.message.includes('SUCCEEDED')), 60_000);

      // the scheduled sweep runs on the leader only
      await waitFor('a scheduled sweep on the leader', () => leader!.stdout.includes(SWEPT), 10_000);
      expect(followers.filter((f) => f.stdout.includes(SWEPT))).toEqual([]);

      leader!.child.kill('SIGSTOP');
      const stoppedAt = Date.now();
      // the hung leader's stream is still open: this line sits in its socket, unread
      const marker = change(599);
      rest.setChange(marker);
      ssh.push(commentAddedEvent(marker, carol, 'hung leader marker: only the stopped stream ever saw this'));
      // merged while the leader hangs
      const missed = change(502, { submitted: gerritNow() });
      rest.setChange(missed);

      await waitFor('another replica to open the stream', () => ssh.sessions === 2, LEASE_MS + POLL_MS + CONNECT_MS + 5000);
      const takeoverMs = Date.now() - stoppedAt;
      // not before the lease could lapse (the hung leader's session is alive), and within the bound
      expect(takeoverMs).toBeGreaterThanOrEqual(LEASE_MS - RENEW_MS);
      expect(takeoverMs).toBeLessThanOrEqual(LEASE_MS + POLL_MS + CONNECT_MS);
      const successors = followers.filter((f) => f.leads);
      expect(successors).toHaveLength(1);
      const successor = successors[0]!;

      await waitFor('change 502 to finish', () => reviewsOf(502).some((r) => r.message.includes('SUCCEEDED')), 60_000);
      // the scheduled sweep followed the lease to the new leader
      await waitFor('a scheduled sweep on the new leader', () => successor.stdout.includes(SWEPT), 10_000);
      expect(successor.stdout).toMatch(/"reason":"took over the stream lease"[^\n]*"added":1|"added":1[^\n]*"reason":"took over the stream lease"/);
      // nobody else took over meanwhile
      expect(ssh.sessions).toBe(2);

      // the old leader wakes: it finds its lease gone and stops its stream before anything else
      const wokenFrom = leader!.stdout.length;
      leader!.child.kill('SIGCONT');
      await waitFor('the old leader to say it lost the leadership', () => leader!.stdout.slice(wokenFrom).includes(LOST), 10_000);
      await waitFor('the old stream to close', () => ssh.sessions === 1, 10_000);
      const after = () => leader!.stdout.slice(wokenFrom);
      await waitFor('the old leader to have stopped its stream', () => /"msg":"this replica is no longer the Gerrit stream leader"/.test(after()), 10_000);
      // and it stays a follower: several leases later it has not led again, and one stream is open
      for (let i = 0; i < 8; i++) {
        await sleep(LEASE_MS / 2);
        expect(ssh.sessions).toBe(1);
      }
      expect(count(leader!.stdout, LEADS)).toBe(1);
      expect(count(successor.stdout, LEADS)).toBe(1);
      // nor does the woken leader sweep on its old schedule
      expect(after()).not.toContain(SWEPT);

      // the line that only the hung stream held was never stored: the woken leader was fenced
      const check = await createDatabase(database.target);
      try {
        const stored = await check.db.selectFrom('events').select(['raw', 'source']).execute();
        expect(stored.filter((e) => e.raw.includes('hung leader marker'))).toEqual([]);
        const lease = await check.db.selectFrom('leader_leases').selectAll().execute();
        expect(lease).toHaveLength(1);
        expect(lease[0]!.generation).toBe(2);
      } finally {
        await check.close();
      }

      // a merge after all this rolls out once, through the new leader's stream
      const later = change(503);
      rest.setChange(later);
      ssh.push(changeMergedEvent(later));
      await waitFor('change 503 to finish', () => reviewsOf(503).some((r) => r.message.includes('SUCCEEDED')), 60_000);
      await sleep(2000);
      expectRolledOutOnce(501);
      expectRolledOutOnce(502);
      expectRolledOutOnce(503);
    },
    180_000,
  );
});
