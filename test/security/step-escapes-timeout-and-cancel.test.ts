import { describe, expect, it } from 'vitest';
import type { Actor } from '../../src/policy/who-may-act.js';
import { cancelRollout } from '../../src/actions/operations.js';
import { BACKENDS, openTestDatabaseForSuite } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';
import { Engine, policy, queueRollout, rule, workflow } from '../execute/engine-harness.js';
import { alive, escapedProcessesPerTest } from '../helpers/process-alive.js';

/**
 * Attack: a `run` step starts `setsid sleep 90 &`. The sleeping process leaves the step's process
 * group and session but keeps the step's stdout and stderr open. Before the fix the rollout (and
 * its environment's queue) waited the full 90 s for those pipes, past the step's timeout, and a
 * cancel did nothing. Now a step ends with its own process, and whatever it started is stopped
 * with it, wherever it went.
 */

const alice: Actor = { accountId: 1000001, username: 'alice', roles: ['prod-deployer'] };

/** A step that leaves a `setsid sleep 90` behind (its pid in the file given as $0), then runs `tail`. */
function escapingStep(tail: string): string[] {
  return ['/bin/sh', '-c', `setsid sleep 90 & echo $! > "$0"; ${tail}`, '${env.PID_FILE}'];
}

describe.each(BACKENDS)('%s: a step that escapes its process group', (backend) => {
  const database = openTestDatabaseForSuite(backend);
  let engine: Engine | undefined;
  const escaped = escapedProcessesPerTest('escape', async () => {
    await engine?.stop();
    engine = undefined;
  });

  async function start(name: string, step: Record<string, unknown>) {
    const pidFile = escaped.newPidFile();
    const wf = workflow({ name, steps: [{ id: 'deploy', ...step }] });
    const r = rule(`${name}-prod`, name, `${name}-env`);
    engine = new Engine(database.handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    const began = Date.now();
    engine.start(1, { baseEnv: { PATH: process.env.PATH ?? '', PID_FILE: pidFile } });
    const sleeper = await escaped.pidIn(pidFile, 'the step to start its escaping child');
    return { rollout, sleeper, began };
  }

  const ended = (id: number) => async () => {
    const status = await engine!.status(id);
    return ['succeeded', 'failed', 'cancelled', 'rolled_back'].includes(status) ? status : undefined;
  };

  it('a step timeout ends the rollout within seconds and stops the escaped process', async () => {
    const { rollout, sleeper, began } = await start('escape-timeout', { run: escapingStep('sleep 30'), timeout: '2s' });
    expect(alive(sleeper)).toBe(true);
    expect(await waitFor('the rollout to end', ended(rollout.id), 15_000)).toBe('failed');
    expect(Date.now() - began).toBeLessThan(12_000);
    expect((await engine!.steps(rollout.id)).deploy).toMatchObject({ status: 'failed', error: expect.stringMatching(/^timed out after 2000 ms/) });
    expect(alive(sleeper)).toBe(false);
  });

  it('a cancel ends the rollout within seconds and stops the escaped process', async () => {
    const { rollout, sleeper, began } = await start('escape-cancel', { run: escapingStep('sleep 60') });
    expect(alive(sleeper)).toBe(true);
    expect(await cancelRollout(engine!.operations(), rollout.id, alice, 'stop it')).toMatchObject({ ok: true });
    expect(await waitFor('the rollout to end', ended(rollout.id), 15_000)).toBe('cancelled');
    expect(Date.now() - began).toBeLessThan(12_000);
    expect((await engine!.steps(rollout.id)).deploy).toMatchObject({ status: 'cancelled', error: 'stopped: the rollout was cancelled' });
    expect(alive(sleeper)).toBe(false);
  });

  it('a step that exits at once ends at once, and what it left running is stopped', async () => {
    const { rollout, sleeper, began } = await start('escape-exit', { run: escapingStep('exit 0'), timeout: '60s' });
    expect(await waitFor('the rollout to end', ended(rollout.id), 15_000)).toBe('succeeded');
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(alive(sleeper)).toBe(false);
  });
});
