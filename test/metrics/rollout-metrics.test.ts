import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { serviceOnDoublesForSuite } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';
import { sample, scrape } from './metrics-text.js';

const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

describe.each(BACKENDS)('%s: GET /metrics of a service on the Gerrit doubles', (backend) => {
  const suite = serviceOnDoublesForSuite(backend, 'metrics', [
    [alice, [GROUPS.sre]],
    [bob, [GROUPS.developers]],
  ]);

  it('before any event: the build, the process, and every known series at 0', async () => {
    const text = await scrape(suite.service.url);
    expect(text).toContain(`rollgate_build_info{version="${VERSION}",node="${process.version}"} 1`);
    // the process's own metrics under their standard names
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect(sample(text, name), name).toBeGreaterThanOrEqual(0);
    }
    for (const series of [
      'rollgate_events_received_total{type="change-merged",source="stream"}',
      'rollgate_events_stored_total{type="comment-added",source="webhook"}',
      'rollgate_events_rejected_total{type="change-merged",source="backfill"}',
      'rollgate_events_deduplicated_total{type="comment-added",source="replay"}',
      'rollgate_backfills_total{result="failed"}',
      'rollgate_backfill_merges_found_total',
      'rollgate_decisions_total{outcome="allow",trigger="merge"}',
      'rollgate_decisions_total{outcome="hold",trigger="comment"}',
      'rollgate_decisions_total{outcome="deny",trigger="api"}',
      'rollgate_decisions_total{outcome="allow",trigger="vote"}',
      'rollgate_decisions_total{outcome="ignore",trigger="merge"}',
      'rollgate_step_duration_seconds_count{kind="run",status="succeeded"}',
      'rollgate_step_duration_seconds_count{kind="http",status="failed"}',
      'rollgate_step_duration_seconds_count{kind="wait",status="cancelled"}',
      'rollgate_step_duration_seconds_bucket{le="+Inf",kind="run",status="failed"}',
      'rollgate_merge_to_start_seconds_count',
      'rollgate_rollout_duration_seconds_count{status="succeeded"}',
      'rollgate_rollout_duration_seconds_count{status="failed"}',
      'rollgate_rollout_duration_seconds_count{status="rolled_back"}',
      'rollgate_rollout_duration_seconds_count{status="cancelled"}',
      'rollgate_outbox_sent_total',
      'rollgate_outbox_retries_total{status="network"}',
      'rollgate_policy_reload_failures_total',
      'rollgate_rollouts{status="failed"}',
      'rollgate_outbox_messages{status="pending"}',
      'rollgate_events_pending',
    ]) {
      expect(sample(text, series), series).toBe(0);
    }
  });

  it('counts the events waiting to be decided', async () => {
    const db = suite.service.database.db;
    // due in an hour: the decide stage leaves it pending meanwhile
    const row = await db
      .insertInto('events')
      .values({ dedup_key: 'metrics-test:pending', source: 'webhook', type: 'change-merged', raw: '{}', status: 'pending', not_before: new Date(Date.now() + 3_600_000) })
      .returning('id')
      .executeTakeFirstOrThrow();
    try {
      expect(sample(await scrape(suite.service.url), 'rollgate_events_pending')).toBe(1);
    } finally {
      await db.deleteFrom('events').where('id', '=', row.id).execute();
    }
    expect(sample(await scrape(suite.service.url), 'rollgate_events_pending')).toBe(0);
  });

  it('observes one rollout once: merge to start, and its duration by final status', async () => {
    const change = mergedChange(801, bob, {
      commitMessage: 'Fix it\n\nRollout-Justification: INC-2\n',
      votes: { 'Code-Review': [{ account: alice, value: 2 }] },
    });
    suite.rest.setChange(change);
    suite.ssh.push(changeMergedEvent(change));
    await waitFor('the finish message', () => suite.rest.reviews.find((r) => r.changeNumber === 801 && r.message.includes('SUCCEEDED')));

    const text = await waitFor('the finished rollout in /metrics', async () => {
      const t = await scrape(suite.service.url);
      return sample(t, 'rollgate_rollout_duration_seconds_count{status="succeeded"}') === 1 ? t : undefined;
    });
    const rollout = await suite.service.database.db.selectFrom('rollouts').selectAll().where('change_number', '=', 801).executeTakeFirstOrThrow();
    const seconds = (from: Date | null, to: Date | null) => (to!.getTime() - from!.getTime()) / 1000;

    expect(sample(text, 'rollgate_merge_to_start_seconds_count')).toBe(1);
    expect(sample(text, 'rollgate_merge_to_start_seconds_bucket{le="+Inf"}')).toBe(1);
    // from the merge time rollgate recorded to the rollout's first start, both from its row
    expect(sample(text, 'rollgate_merge_to_start_seconds_sum')).toBeCloseTo(seconds(rollout.merged_at, rollout.started_at), 3);

    expect(sample(text, 'rollgate_rollout_duration_seconds_bucket{le="+Inf",status="succeeded"}')).toBe(1);
    expect(sample(text, 'rollgate_rollout_duration_seconds_sum{status="succeeded"}')).toBeCloseTo(seconds(rollout.started_at, rollout.finished_at), 3);
    expect(sample(text, 'rollgate_rollout_duration_seconds_sum{status="succeeded"}')).toBeGreaterThan(0);
    for (const status of ['failed', 'rolled_back', 'cancelled']) expect(sample(text, `rollgate_rollout_duration_seconds_count{status="${status}"}`)).toBe(0);
    expect(sample(text, 'rollgate_decisions_total{outcome="allow",trigger="merge"}')).toBe(1);
  });
});
