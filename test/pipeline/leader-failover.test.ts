import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { serveSetup, ServeProcess, type ServeSetup } from '../helpers/serve-process.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * Issue 6's "leader replica killed" fault test: `rollgate serve` processes on one database and
 * one Gerrit; exactly one holds the stream; the leader is killed with SIGKILL, another takes the
 * stream over within seconds, and a merge made while nobody listened is back-filled, rolled out
 * once and reported once.
 */
const POLL_MS = 300;

const WORKFLOW = `name: deploy-service
steps:
  - id: build
    run: ["./ops/step.mjs", "build", "--", "\${change.number}"]
  - id: deploy
    needs: [build]
    run: ["./ops/step.mjs", "deploy", "--", "\${change.number}"]
`;



describe.each(BACKENDS)('%s: the stream leader', (backend) => {
  let ssh: SshGerritDouble;
  let rest: RestGerritDouble;
  let database: TestDatabase;
  let setup: ServeSetup;
  let env: Record<string, string>;
  const running: ServeProcess[] = [];

  beforeAll(async () => {
    ssh = await startSshGerritDouble();
    rest = await startRestGerritDouble();
    rest.addAccount(alice, [GROUPS.sre]);
    rest.addAccount(bob, [GROUPS.developers]);
    database = await createTestDatabase(backend);
    setup = serveSetup({ name: 'leader', workflow: WORKFLOW, database, ssh, rest, env: { ROLLGATE_LEADER_POLL_MS: String(POLL_MS) } });
    env = setup.env;
  });

  afterEach(async () => {
    for (const r of running.splice(0)) {
      r.child.kill('SIGKILL');
      await r.exited;
    }
  });

  afterAll(async () => {
    await database?.drop();
    await ssh?.close();
    await rest?.close();
  });

  const calls = () => setup.calls();
  const reviewsOf = (change: number) => rest.reviews.filter((r) => r.changeNumber === change);
  const start = async () => {
    const r = new ServeProcess(env);
    running.push(r);
    await r.ready();
    return r;
  };
  const change = (number: number, extra: Parameters<typeof mergedChange>[2] = {}) =>
    mergedChange(number, bob, {
      commitMessage: `Change ${number}\n\nRollout-Justification: leader test\n`,
      votes: { 'Code-Review': [{ account: alice, value: 2 }] },
      ...extra,
    });
  const gerritNow = () => new Date().toISOString().replace('T', ' ').replace('Z', '000000');
  const expectRolledOutOnce = (n: number) => {
    expect(reviewsOf(n).filter((r) => r.message.includes('STARTED'))).toHaveLength(1);
    expect(reviewsOf(n).filter((r) => r.message.includes('SUCCEEDED'))).toHaveLength(1);
    const starts = calls().filter((c) => c.event === 'start' && c.args[0] === String(n));
    expect(starts.map((c) => c.name).sort()).toEqual(['build', 'deploy']);
  };

  it.each(backend === 'pglite' ? ['pglite'] : [])('on %s the one process leads and holds the stream', async () => {
    const only = await start();
    await waitFor('its stream session', () => ssh.sessions === 1);
    expect(only.leads).toBe(true);
  }, 90_000);

  it.each(backend === 'postgres' ? ['postgres'] : [])(
    'on %s one of two processes holds the stream; when it is killed the other takes over and back-fills the merge made in the gap, once',
    async () => {
      const replicas = await Promise.all([start(), start()]);
      await waitFor('one stream session', () => ssh.sessions === 1);
      // and it stays one: the follower keeps trying and keeps failing
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        expect(ssh.sessions).toBe(1);
      }
      const leaders = replicas.filter((r) => r.leads);
      expect(leaders).toHaveLength(1);
      const [leader] = leaders;
      const follower = replicas.find((r) => r !== leader)!;

      // a merge on the stream, so the back-fill checkpoint exists and the pipeline has run
      const before = change(401);
      rest.setChange(before);
      ssh.push(changeMergedEvent(before));
      await waitFor('change 401 to finish', () => reviewsOf(401).some((r) => r.message.includes('SUCCEEDED')), 60_000);

      const opened = ssh.sessions;
      leader!.child.kill('SIGKILL');
      await leader!.exited;
      const killedAt = Date.now();
      await waitFor('the dead leader session to close', () => ssh.sessions === 0, 5000);
      // merged while nobody listened: no stream event will ever come for it
      const missed = change(402, { submitted: gerritNow() });
      rest.setChange(missed);

      await waitFor('the follower to open the stream', () => ssh.sessions === 1, 10_000);
      const takeoverMs = Date.now() - killedAt;
      expect(takeoverMs).toBeLessThan(5000);
      expect(follower.leads).toBe(true);
      expect(opened).toBe(1);

      await waitFor('change 402 to finish', () => reviewsOf(402).some((r) => r.message.includes('SUCCEEDED')), 60_000);
      expect(follower.stdout).toMatch(/"added":1[,}][^\n]*"msg":"back-fill done"|"msg":"back-fill done"[^\n]*"added":1/);
      // let anything that would run twice have the time to do it
      await new Promise((r) => setTimeout(r, 2000));
      expectRolledOutOnce(401);
      expectRolledOutOnce(402);
      expect(ssh.sessions).toBe(1);

      follower.child.kill('SIGTERM');
      expect(await follower.exited).toBe(0);
    },
    120_000,
  );
});
