import { spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../src/db/database.js';
import { THIS_HOST } from '../../src/execute/orphan-process.js';
import { BACKENDS, openTestDatabase } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';
import { Engine, policy, queueRollout, rule, run, workflow } from './engine-harness.js';

/**
 * A worker that dies mid-step leaves the step's process group running (it is detached). These
 * tests leave a rollout as a dead worker would (claimed, the step running, its lease run out)
 * and watch what the worker that takes over does about the recorded process group.
 */
describe.each(BACKENDS)('%s: a step process left running by a dead worker', (backend) => {
  let handle: DatabaseHandle;
  let cleanup: () => Promise<void>;
  let engine: Engine | undefined;

  beforeAll(async () => {
    ({ handle, cleanup } = await openTestDatabase(backend));
  });
  afterAll(async () => {
    await cleanup();
  });
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  /** Queues a rollout and leaves its `deploy` step as a dead worker does, with process group `pgid` on `host`. */
  async function abandoned(name: string, pgid: number, host: string) {
    const wf = workflow({ name, steps: [{ id: 'deploy', run: run('deploy') }] });
    const r = rule(`${name}-prod`, name, `${name}-prod`);
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    expect((await engine.leases.claim('dead-worker', 1))?.id).toBe(rollout.id);
    await engine.db.updateTable('rollouts').set({ lease_expires_at: new Date(Date.now() + 60_000) }).where('id', '=', rollout.id).execute();
    await engine.stepStore.startStep(rollout.id, 'deploy', 'dead-worker', 1, { kind: 'run', attempt: 1, idempotencyKey: `rollgate-${rollout.id}-deploy` });
    await engine.stepStore.setStepProcess(rollout.id, 'deploy', 'dead-worker', pgid, host);
    // the worker dies: its lease runs out
    await engine.db.updateTable('rollouts').set({ lease_expires_at: new Date(Date.now() - 1000) }).where('id', '=', rollout.id).execute();
    return rollout;
  }

  it('on this host, stops the orphaned process group before running the step again, and says so', async () => {
    // a process that ignores nothing and would run for a minute, leading its own group like a step
    const orphan = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { detached: true, stdio: 'ignore' });
    const exited = new Promise((r) => orphan.once('exit', (_code, signal) => r(signal)));
    const rollout = await abandoned('orphan-here', orphan.pid!, THIS_HOST);
    engine!.start(1);
    await waitFor('the rollout to succeed', async () => (await engine!.status(rollout.id)) === 'succeeded');
    expect(await exited).toBe('SIGTERM');
    const deploy = (await engine!.reads.steps(rollout.id))[0]!;
    expect(deploy).toMatchObject({ status: 'succeeded', process_group: null, process_host: null, note: `re-run after a takeover: attempt 1 by worker dead-worker was interrupted; stopped process group ${orphan.pid} left running by worker dead-worker (SIGTERM) before running it again` });
    // the orphan was gone before the step ran again
    expect(engine!.calls().filter((c) => c.event === 'start')).toHaveLength(1);
    expect((await engine!.messages(rollout.id)).at(-1)).toContain(`deploy: succeeded (exit 0`);
  });

  it('on another host, cannot stop it: runs the step again with the same key and notes that', async () => {
    const rollout = await abandoned('orphan-elsewhere', 4_000_000, 'build-7 boot 0badc0de');
    engine!.start(1);
    await waitFor('the rollout to succeed', async () => (await engine!.status(rollout.id)) === 'succeeded');
    const deploy = (await engine!.reads.steps(rollout.id))[0]!;
    expect(deploy.note).toBe(`re-run after a takeover: attempt 1 by worker dead-worker was interrupted; the previous attempt ran on build-7 boot 0badc0de (process group 4000000), which rollgate cannot stop from ${THIS_HOST}; it ran again with the same idempotency key`);
    expect(engine!.calls().map((c) => `${c.event}:${c.key}`)).toEqual([`start:rollgate-${rollout.id}-deploy`, `end:rollgate-${rollout.id}-deploy`]);
  });

  it('records the process group of a running step and clears it when the step ends', async () => {
    const wf = workflow({ name: 'orphan-record', steps: [{ id: 'deploy', run: run('deploy', { sleep: 1500 }) }] });
    const r = rule('orphan-record-prod', wf.name, 'orphan-record-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start(1);
    const started = await waitFor('the step to start', () => engine!.calls().find((c) => c.event === 'start'));
    const row = await waitFor('the process group to be recorded', async () => (await engine!.reads.steps(rollout.id)).find((s) => s.process_group !== null));
    expect(row).toMatchObject({ process_group: started.pid, process_host: THIS_HOST });
    await waitFor('the rollout to succeed', async () => (await engine!.status(rollout.id)) === 'succeeded');
    expect((await engine.reads.steps(rollout.id))[0]).toMatchObject({ process_group: null, process_host: null });
  });
});
