/**
 * `npm run bench` (scale part): the rollouts API and list page with 100,000 rollouts (each with
 * steps and a decision) and 1,000,000 event lines in the database, on PostgreSQL (BENCH_DATABASE_URL
 * or TEST_DATABASE_URL; without one it says so and measures nothing). Rows are made with
 * `generate_series` in the database, then `rollgate serve` (no Gerrit) answers: the first page,
 * a page deep in the history (keyset `before=`), filtered by environment, status and owner.
 * Figures: p50 and p99 over 200 requests of each, against the target of p99 <= 50 ms.
 */
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { startService } from '../src/service/service.js';

const ROLLOUTS = Number(process.env.BENCH_SCALE_ROLLOUTS ?? 100_000);
const EVENTS = Number(process.env.BENCH_SCALE_EVENTS ?? 1_000_000);
const REQUESTS = 200;
const server = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!server) {
  console.log('\n*** scale: PostgreSQL was NOT measured (set BENCH_DATABASE_URL or TEST_DATABASE_URL) ***');
  process.exit(0);
}
const name = `rollgate_bench_scale_${process.pid}`;
const admin = new pg.Client({ connectionString: server });
await admin.connect();
await admin.query(`create database ${name}`);
const url = new URL(server);
url.pathname = `/${name}`;
try {
  const service = await startService(loadConfig({ PATH: process.env.PATH, PORT: '0', DATABASE_URL: url.toString(), ROLLGATE_POLICY_DIR: 'test/fixtures/policies', LOG_LEVEL: 'warn' }), silentLogger());
  const db = service.database.db;
  const t0 = performance.now();
  await sql`insert into rollouts (rollout_key, rule, workflow, environment, project, branch, change_number, patchset, revision, subject, decision, status, reasons, approvers, created_at, merged_at)
    select 'r' || g, 'rule-' || (g % 8), 'deploy-service', 'env-' || (g % 8), 'project-' || (g % 50), 'main', g, 1, lpad(to_hex(g), 40, '0'), 'Change ' || g, 'allow',
      (array['succeeded','failed','held','rolled_back','cancelled'])[1 + g % 5], '[]'::jsonb, '[]'::jsonb, now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval
    from generate_series(1, ${ROLLOUTS}) g`.execute(db);
  await sql`insert into rollout_steps (rollout_id, step_id, position, status, attempts) select id, s.step, s.pos, 'succeeded', 1 from rollouts, (values ('build', 0), ('deploy', 1)) as s(step, pos)`.execute(db);
  await sql`insert into decisions (rollout_id, rule, project, change_number, revision, trigger, outcome, reasons, inputs, policy_version)
    select id, rule, project, change_number, revision, 'merge', decision, '[]'::jsonb, jsonb_build_object('owner', jsonb_build_object('username', 'owner-' || (change_number % 500))), 'bench' from rollouts`.execute(db);
  await sql`insert into events (dedup_key, source, type, raw, status, event_created_on) select 'e' || g, 'stream', 'ref-updated', '{"type":"ref-updated"}', 'processed', g from generate_series(1, ${EVENTS}) g`.execute(db);
  await sql`analyze`.execute(db);
  console.log(`\nscale (PostgreSQL): ${ROLLOUTS} rollouts, ${ROLLOUTS * 2} steps, ${ROLLOUTS} decisions, ${EVENTS} events made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const deep = Math.floor(ROLLOUTS / 2);
  const cases: Array<[string, string]> = [
    ['api_first_page', '/api/rollouts'],
    ['api_by_status', '/api/rollouts?status=failed'],
    ['page_first', '/rollouts'],
    ['page_deep', `/rollouts?before=${deep}`],
    ['page_by_environment', '/rollouts?environment=env-3'],
    ['page_by_owner', '/rollouts?owner=owner-7'],
  ];
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
  const figures: string[] = [];
  for (const [label, path] of cases) {
    const times: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const t = performance.now();
      const res = await fetch(`${service.url}${path}`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
      times.push(performance.now() - t);
    }
    console.log(`${label.padEnd(22)} ${path.padEnd(32)} p50 ${pct(times, 50).toFixed(1)} ms p99 ${pct(times, 99).toFixed(1)} ms (target p99 <= 50 ms)`);
    figures.push(`scale_${label}_p99_ms=${pct(times, 99).toFixed(1)}`);
  }
  await service.stop();
  for (const f of figures) console.log(f);
} finally {
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
}
