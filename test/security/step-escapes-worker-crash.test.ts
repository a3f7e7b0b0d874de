import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { THIS_HOST } from '../../src/execute/orphan-process.js';
import { BACKENDS, openTestDatabaseForSuite } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';
import { Engine, policy, queueRollout, rule, run, workflow } from '../execute/engine-harness.js';
import { alive, escapedProcessesPerTest } from '../helpers/process-alive.js';

/**
 * Attack: a step leaves `setsid sleep 90` behind (outside its process group and session), and
 * then the worker running it dies. The worker that takes the step over stopped only the recorded
 * process group, so the escaped process ran on beside the step's second run. Now the takeover
 * stops everything the step started that it can find: its cgroup, group, session and their
 * descendants.
 */

describe.each(BACKENDS)('%s: a dead worker\'s step that escaped its process group', (backend) => {
  const database = openTestDatabaseForSuite(backend);
  let engine: Engine | undefined;
  const escaped = escapedProcessesPerTest('crash-escape', async () => {
    await engine?.stop();
    engine = undefined;
  });

  it('is stopped, escaped child and all, before the step runs again', async () => {
    const pidFile = escaped.newPidFile();
    // what the dead worker's step left: its program (leading its own group) and an escaped child
    const program = spawn('/bin/sh', ['-c', 'setsid sleep 90 & echo $! > "$0"; exec sleep 60', pidFile], { detached: true, stdio: 'ignore' });
    escaped.track(program.pid!);
    const sleeper = await escaped.pidIn(pidFile, 'the escaped child');
    expect(alive(sleeper)).toBe(true);

    const wf = workflow({ name: 'crash-escape', steps: [{ id: 'deploy', run: run('deploy') }] });
    const r = rule('crash-escape-prod', wf.name, 'crash-escape-prod');
    engine = new Engine(database.handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    expect((await engine.leases.claim('dead-worker', 1))?.id).toBe(rollout.id);
    await engine.stepStore.startStep(rollout.id, 'deploy', 'dead-worker', 1, { kind: 'run', attempt: 1, idempotencyKey: `rollgate-${rollout.id}-deploy` });
    await engine.stepStore.setStepProcess(rollout.id, 'deploy', 'dead-worker', program.pid!, THIS_HOST);
    await engine.db.updateTable('rollouts').set({ lease_expires_at: new Date(Date.now() - 1000) }).where('id', '=', rollout.id).execute();

    engine.start(1);
    await waitFor('the rollout to succeed', async () => (await engine!.status(rollout.id)) === 'succeeded');
    expect(alive(sleeper)).toBe(false);
    expect((await engine.reads.steps(rollout.id))[0]!.note).toBe(`re-run after a takeover: attempt 1 by worker dead-worker was interrupted; stopped process group ${program.pid} left running by worker dead-worker (SIGTERM) before running it again`);
  });
});
