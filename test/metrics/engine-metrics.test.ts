import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../src/db/database.js';
import { Metrics } from '../../src/metrics.js';
import type { Actor } from '../../src/policy/who-may-act.js';
import { approveGate, retryRollout } from '../../src/actions/operations.js';
import { BACKENDS, openTestDatabase } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';
import { Engine, policy, queueRollout, rule, run, workflow } from '../execute/engine-harness.js';
import { sample } from './metrics-text.js';

const alice: Actor = { accountId: 1000001, username: 'alice', roles: ['prod-deployer'], relation: 'other' };

describe.each(BACKENDS)('%s: the engine observes a rollout in the metrics', (backend) => {
  let handle: DatabaseHandle;
  let cleanup: () => Promise<void>;
  let engine: Engine | undefined;

  beforeAll(async () => {
    ({ handle, cleanup } = await openTestDatabase(backend));
  });
  afterAll(async () => {
    await engine?.stop();
    await cleanup();
  });

  it('merge to start once per rollout (not when it resumes after a gate or a retry), its duration at each end', async () => {
    const wf = workflow({
      name: 'observed',
      steps: [
        { id: 'canary', run: run('canary') },
        { id: 'promote', needs: ['canary'], approval: { roles: ['prod-deployer'], timeout: '1h' } },
        { id: 'full', needs: ['promote'], run: run('full', { 'fail-first': 1 }) },
      ],
    });
    const r = rule('observed-prod', 'observed', 'observed-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const metrics = new Metrics(handle.db);
    const rollout = await queueRollout(engine.store, wf, r, { mergedAt: new Date(Date.now() - 90_000) });
    const text = async () => (await metrics.scrape()).body;
    expect(sample(await text(), 'rollgate_merge_to_start_seconds_count')).toBe(0);
    engine.start(2, { metrics });

    await waitFor('the rollout to park at the gate', async () => (await engine!.status(rollout.id)) === 'waiting');
    expect(sample(await text(), 'rollgate_merge_to_start_seconds_count')).toBe(1);
    expect((await approveGate(engine.operations(), rollout.id, alice, 'canary is green')).ok).toBe(true);
    // resumed after the gate; `full` fails its first run, and with nothing to undo the rollout ends failed
    await waitFor('the rollout to fail', async () => ['failed', 'rolled_back'].includes(await engine!.status(rollout.id)));
    const failedAs = await engine.status(rollout.id);
    expect((await retryRollout(engine.operations(), rollout.id, alice, 'flake')).ok).toBe(true);
    await waitFor('the retried rollout to succeed', async () => (await engine!.status(rollout.id)) === 'succeeded');

    const body = await waitFor('the end in the metrics', async () => {
      const t = await text();
      return sample(t, 'rollgate_rollout_duration_seconds_count{status="succeeded"}') === 1 ? t : undefined;
    });
    const row = (await engine.reads.get(rollout.id))!;
    expect(sample(body, 'rollgate_merge_to_start_seconds_count')).toBe(1);
    expect(sample(body, 'rollgate_merge_to_start_seconds_sum')).toBeCloseTo((row.started_at!.getTime() - row.merged_at.getTime()) / 1000, 3);
    expect(sample(body, 'rollgate_merge_to_start_seconds_sum')).toBeGreaterThanOrEqual(90);
    // 90 s is past the 60 s bucket and within the 120 s one
    expect(sample(body, 'rollgate_merge_to_start_seconds_bucket{le="60"}')).toBe(0);
    expect(sample(body, 'rollgate_merge_to_start_seconds_bucket{le="120"}')).toBe(1);
    expect(sample(body, `rollgate_rollout_duration_seconds_count{status="${failedAs}"}`)).toBe(1);
    expect(sample(body, 'rollgate_rollout_duration_seconds_count{status="cancelled"}')).toBe(0);
    expect(sample(body, 'rollgate_rollout_duration_seconds_sum{status="succeeded"}')).toBeCloseTo((row.finished_at!.getTime() - row.started_at!.getTime()) / 1000, 3);
    // both runs of `full`, and the canary once
    expect(sample(body, 'rollgate_step_duration_seconds_count{kind="run",status="failed"}')).toBe(1);
    expect(sample(body, 'rollgate_step_duration_seconds_count{kind="run",status="succeeded"}')).toBe(2);
  });
});
