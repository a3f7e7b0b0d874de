import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { serveSetup, ServeProcess, type ServeSetup } from '../helpers/serve-process.js';
import { waitFor } from '../helpers/wait-for.js';
import { alive } from '../helpers/process-alive.js';

/**
 * rollgate as separate processes (`rollgate serve`, started the way an operator starts it) on a
 * shared database: killed with SIGKILL in the middle of a step and started again, and two of them
 * side by side on one PostgreSQL fed the same events.
 */


const WORKFLOW = `name: deploy-service
steps:
  - id: build
    run: ["./ops/step.mjs", "build", "--", "\${change.number}"]
  - id: deploy
    needs: [build]
    run: ["./ops/step.mjs", "deploy", "--sleep", "\${env.DEPLOY_MS}", "--", "\${change.number}"]
  - id: verify
    needs: [deploy]
    run: ["./ops/step.mjs", "verify", "--", "\${change.number}"]
`;


describe.each(BACKENDS)('%s: rollgate processes on a shared database', (backend) => {
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
    setup = serveSetup({ name: 'crash', workflow: WORKFLOW, database, ssh, rest, env: { ROLLGATE_STEP_ENV: 'RECORD_DIR,DEPLOY_MS', DEPLOY_MS: '2500' } });
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
  const start = async (extra: Record<string, string> = {}) => {
    const r = new ServeProcess({ ...env, ...extra });
    running.push(r);
    await r.ready();
    return r;
  };
  const merge = (number: number) => {
    const change = mergedChange(number, bob, {
      commitMessage: `Change ${number}\n\nRollout-Justification: crash test\n`,
      votes: { 'Code-Review': [{ account: alice, value: 2 }] },
    });
    rest.setChange(change);
    ssh.push(changeMergedEvent(change));
    return change;
  };

  it('finishes a rollout after rollgate is killed with SIGKILL mid-step and started again: it stops the orphaned step first and repeats no finished step', async () => {
    // the first deploy would run on long after its rollgate died: the orphan the restart must stop
    const first = await start({ DEPLOY_MS: '60000' });
    await waitFor('its stream session', () => ssh.sessions === 1);
    merge(301);
    const deploy = await waitFor('the deploy step to start', () => calls().find((c) => c.name === 'deploy' && c.args[0] === '301' && c.event === 'start'));

    first.child.kill('SIGKILL');
    await first.exited;
    // steps run in their own process group, so the step outlived rollgate
    expect(alive(deploy.pid)).toBe(true);
    expect(reviewsOf(301).some((r) => r.message.includes('SUCCEEDED'))).toBe(false);

    const second = await start();
    const rerun = await waitFor('the deploy step to run again', () => calls().find((c) => c.name === 'deploy' && c.args[0] === '301' && c.event === 'start' && c.pid !== deploy.pid), 30_000);
    // rollgate stopped the orphan before it started the step again: the two never overlapped
    expect(alive(deploy.pid)).toBe(false);
    expect(rerun.key).toBe(deploy.key);
    const finished = await waitFor('the finish message', () => reviewsOf(301).find((r) => r.message.includes('SUCCEEDED')), 60_000);
    expect(finished.message).toMatch(/\* build: succeeded \(exit 0/);
    expect(finished.message).toMatch(new RegExp(`\\* deploy: succeeded \\(exit 0[^\\n]* - re-run after a takeover: attempt 1 by worker \\S+ was interrupted; stopped process group ${deploy.pid} left running by worker \\S+ \\(SIGTERM\\) before running it again`));
    expect(finished.message).toMatch(/\* verify: succeeded \(exit 0/);
    expect(reviewsOf(301).filter((r) => r.message.includes('STARTED'))).toHaveLength(1);

    const starts = calls().filter((c) => c.event === 'start' && c.args[0] === '301');
    expect(starts.filter((c) => c.name === 'build')).toHaveLength(1);
    expect(starts.filter((c) => c.name === 'verify')).toHaveLength(1);
    expect(starts.filter((c) => c.name === 'deploy')).toHaveLength(2);
    // only the re-run finished: the orphan was stopped mid-sleep
    expect(calls().filter((c) => c.event === 'end' && c.name === 'deploy' && c.args[0] === '301').map((c) => c.pid)).toEqual([rerun.pid]);

    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 120_000);

  it.each(backend === 'postgres' ? ['postgres'] : [])('two processes on one %s with the same events run every rollout once', async () => {
    await Promise.all([start({ DEPLOY_MS: '100' }), start({ DEPLOY_MS: '100' })]);
    // only the leader holds the stream (sessions of earlier, killed processes do not count);
    // both processes decide and run rollouts from the shared tables
    await waitFor('the leader stream session', () => ssh.sessions === 1);
    const numbers = [311, 312, 313, 314, 315];
    for (const n of numbers) merge(n);
    for (const n of numbers) {
      await waitFor(`change ${n} to finish`, () => reviewsOf(n).some((r) => r.message.includes('SUCCEEDED')), 60_000).catch((err: Error) => {
        // say what the two processes saw, not only that time ran out
        throw new Error(`${err.message}\nwarnings and errors logged:\n${running.map((r) => r.problems()).join('\n')}`);
      });
    }
    for (const n of numbers) {
      expect(reviewsOf(n).filter((r) => r.message.includes('STARTED'))).toHaveLength(1);
      expect(reviewsOf(n).filter((r) => r.message.includes('SUCCEEDED'))).toHaveLength(1);
      const starts = calls().filter((c) => c.event === 'start' && c.args[0] === String(n));
      expect(starts.map((c) => c.name).sort()).toEqual(['build', 'deploy', 'verify']);
    }
    // one environment: the rollouts ran one at a time, never overlapping
    const spans = numbers
      .map((n) => {
        const mine = calls().filter((c) => c.args[0] === String(n));
        return [mine.find((c) => c.event === 'start')!.t, mine.filter((c) => c.event === 'end').at(-1)!.t] as const;
      })
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
  }, 120_000);
});

