import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startService, type RunningService } from '../../src/service/service.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { startServiceOnDoubles } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';

const FIXTURES = path.resolve('test/fixtures');

/** The value of one sample line (`name{labels} value`), or undefined when the line is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.each(BACKENDS)('%s: GET /metrics and GET /readyz of a running service', (backend) => {
  let ssh: SshGerritDouble;
  let rest: RestGerritDouble;
  let database: TestDatabase;
  let service: RunningService;

  beforeAll(async () => {
    ssh = await startSshGerritDouble();
    rest = await startRestGerritDouble();
    rest.addAccount(alice, [GROUPS.sre]);
    rest.addAccount(bob, [GROUPS.developers]);
    database = await createTestDatabase(backend);
    ({ service } = await startServiceOnDoubles({ name: 'ops', database, rest, ssh }));
  });

  afterAll(async () => {
    await service?.stop();
    await database?.drop();
    await ssh?.close();
    await rest?.close();
  });

  const scrape = async () => {
    const res = await fetch(`${service.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  it('counts a merge from intake to report: events, decisions, rollouts, step durations, stream and outbox', async () => {
    const change = mergedChange(701, bob, {
      commitMessage: 'Fix it\n\nRollout-Justification: INC-1\n',
      votes: { 'Code-Review': [{ account: alice, value: 2 }] },
    });
    rest.setChange(change);
    ssh.push(changeMergedEvent(change));
    ssh.push(changeMergedEvent(change)); // Gerrit repeating itself: stored once
    ssh.push({ type: 'change-merged', change: { number: 'seven' } }); // not a valid event: stored as rejected
    ssh.push('{"type": "change-mer'); // not even JSON: type unknown
    await waitFor('the finish message', () => rest.reviews.find((r) => r.changeNumber === 701 && r.message.includes('SUCCEEDED')));

    const text = await waitFor('the finished rollout in /metrics', async () => {
      const t = await scrape();
      // the sent counter moves just after the row's commit, which another connection may see first
      return sample(t, 'rollgate_rollouts{status="succeeded"}') === 1 && sample(t, 'rollgate_outbox_messages{status="pending"}') === 0 && sample(t, 'rollgate_outbox_sent_total') === 2 ? t : undefined;
    });
    expect(text).toContain('# TYPE rollgate_events_received_total counter');
    expect(sample(text, 'rollgate_events_received_total{type="change-merged",source="stream"}')).toBe(3);
    expect(sample(text, 'rollgate_events_stored_total{type="change-merged",source="stream"}')).toBe(2); // the merge, and the rejected line with its reason
    expect(sample(text, 'rollgate_events_deduplicated_total{type="change-merged",source="stream"}')).toBe(1);
    expect(sample(text, 'rollgate_events_rejected_total{type="change-merged",source="stream"}')).toBe(1);
    expect(sample(text, 'rollgate_events_rejected_total{type="unknown",source="stream"}')).toBe(1);
    expect(sample(text, 'rollgate_decisions_total{outcome="allow",trigger="merge"}')).toBe(1);
    expect(sample(text, 'rollgate_rollouts{status="running"}')).toBe(0);
    expect(sample(text, 'rollgate_stream_connected')).toBe(1);
    expect(sample(text, 'rollgate_backfills_total{result="ok"}')).toBeGreaterThanOrEqual(1);
    // the fixture workflow has two run steps, build and deploy
    expect(sample(text, 'rollgate_step_duration_seconds_count{kind="run",status="succeeded"}')).toBe(2);
    expect(sample(text, 'rollgate_step_duration_seconds_sum{kind="run",status="succeeded"}')).toBeGreaterThan(0);
    expect(sample(text, 'rollgate_step_duration_seconds_bucket{le="+Inf",kind="run",status="succeeded"}')).toBe(2);
    expect(sample(text, 'rollgate_outbox_sent_total')).toBe(2); // started and finished
    expect(sample(text, 'rollgate_outbox_messages{status="sent"}')).toBe(2);
  });

  it('GET /readyz is 200 on a migrated database and 503 naming a migration that is not applied', async () => {
    const ready = await fetch(`${service.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });

    const db = service.database.db;
    const row = (await sql<{ name: string; timestamp: string }>`select name, timestamp from kysely_migration where name = '0004_workflow_engine'`.execute(db)).rows[0]!;
    await sql`delete from kysely_migration where name = '0004_workflow_engine'`.execute(db);
    try {
      const res = await fetch(`${service.url}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'not ready', problems: ['migrations not applied: 0004_workflow_engine'] });
      // liveness is not readiness
      expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    } finally {
      await sql`insert into kysely_migration (name, timestamp) values (${row.name}, ${row.timestamp})`.execute(db);
    }
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
  });
});

describe.each(BACKENDS)('%s: GET /readyz when the database is gone', (backend) => {
  it('answers 503 with the database error while /healthz stays 200', async () => {
    const database = await createTestDatabase(backend);
    const config = loadConfig({
      PATH: process.env.PATH,
      PORT: '0',
      ROLLGATE_DATA_DIR: 'memory://',
      ...(database.url ? { DATABASE_URL: database.url } : {}),
      ROLLGATE_POLICY_DIR: path.join(FIXTURES, 'policies'),
    });
    const service = await startService(config, silentLogger(), { idleMs: 50 });
    let stopped = false;
    try {
      expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
      // PostgreSQL: the database is dropped under the running service; PGlite: its handle is closed
      if (backend === 'postgres') await database.drop();
      else await service.database.close();
      const res = await fetch(`${service.url}/readyz`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { status: string; problems: string[] };
      expect(body.status).toBe('not ready');
      expect(body.problems).toEqual([expect.stringMatching(/^database unreachable: /)]);
      expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
      // scraping still works: the database-backed gauges are left out, the counters are served
      const metrics = await fetch(`${service.url}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('rollgate_stream_connected 0');
      stopped = true;
      // closing the database a second time (PGlite) must not fail the stop
      await service.stop().catch(() => {});
    } finally {
      if (!stopped) await service.stop();
      await database.drop();
    }
  });
});
