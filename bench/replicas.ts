/**
 * `npm run bench` (replicas part): 1, 2 and 3 worker processes ("replicas", each its own Node
 * process and connection pool, as `serve` replicas are) on one PostgreSQL database run 1,000
 * rollouts over 8 environments; each rollout's steps wait 20 ms (a short deploy). Reports the
 * throughput per replica count and checks that no step of any rollout ran twice (its
 * `step_attempts`); BENCH_DEBUG=1 shows the replicas' warnings. PostgreSQL only (BENCH_DATABASE_URL or TEST_DATABASE_URL): PGlite is one process.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pg from 'pg';
import { AuditStore } from '../src/audit/audit-store.js';
import { createDatabase, migrateToLatest } from '../src/db/database.js';
import { Runner } from '../src/execute/runner.js';
import { createLogger, silentLogger } from '../src/log.js';
import { ChangeMessages } from '../src/messages/change-messages.js';
import { OutboxStore } from '../src/messages/outbox-store.js';
import type { Policy } from '../src/policy/policy-config.js';
import { WorkflowFileSchema } from '../src/policy/workflow-config.js';
import { PollLoop } from '../src/poll-loop.js';
import { RolloutLeaseStore } from '../src/rollouts/rollout-lease-store.js';
import { RolloutReads } from '../src/rollouts/rollout-reads.js';
import { RolloutStore } from '../src/rollouts/rollout-store.js';
import { StepOutputStore } from '../src/rollouts/step-output-store.js';
import { StepStore } from '../src/rollouts/step-store.js';

const ROLLOUTS = Number(process.env.BENCH_REPLICA_ROLLOUTS ?? 1000);
const ENVIRONMENTS = 8;
/** Fewer workers per replica than environments, so a replica added adds rollouts that can run at once. */
const LOOPS_PER_REPLICA = Number(process.env.BENCH_REPLICA_WORKERS ?? 2);
// BENCH_REPLICA_PROCESSES=1: each step a real process (node sleeping 20 ms) instead of a wait
const work = process.env.BENCH_REPLICA_PROCESSES ? { run: [process.execPath, '-e', 'setTimeout(() => {}, 20)'] } : { wait: '20ms' };
const workflow = WorkflowFileSchema.parse({ name: 'short', steps: [{ id: 'a', ...work }, { id: 'b', needs: ['a'], ...work }] });
const rules = Array.from({ length: ENVIRONMENTS }, (_, i) => ({ name: `rule-${i}`, environment: `env-${i}`, queue: 'serial', workflow: 'short' }));
const policy = { roles: {}, rollouts: rules, workflows: { short: workflow } } as unknown as Policy;

/** One replica: runs rollouts until none is left queued or running, then exits. */
async function replica(url: string, name: string): Promise<void> {
  const handle = await createDatabase({ kind: 'postgres', url });
  const db = handle.db;
  const runner = new Runner({
    leases: new RolloutLeaseStore(db),
    steps: new StepStore(db),
    output: new StepOutputStore(db),
    reads: new RolloutReads(db),
    messages: new ChangeMessages(new OutboxStore(db), undefined),
    audit: new AuditStore(db),
    policy: () => policy,
    logger: process.env.BENCH_DEBUG ? createLogger('warn') : silentLogger(),
    workDir: process.cwd(),
    workerId: name,
    baseEnv: {},
    onReport: () => {},
    leaseMs: 30_000,
    pollMs: 1000,
  });
  const loops = Array.from({ length: LOOPS_PER_REPLICA }, (_, i) => new PollLoop(`${name}-${i}`, () => runner.runNext(), { idleMs: 10, logger: process.env.BENCH_DEBUG ? createLogger('warn') : silentLogger() }));
  for (const l of loops) l.start();
  for (;;) {
    const left = await db.selectFrom('rollouts').select((eb) => eb.fn.countAll<number>().as('n')).where('status', 'in', ['queued', 'running']).executeTakeFirstOrThrow();
    if (Number(left.n) === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await runner.stop(1000);
  await Promise.all(loops.map((l) => l.stop()));
  await handle.close();
}

async function run(server: string, replicas: number): Promise<void> {
  const name = `rollgate_bench_replicas_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  try {
    const handle = await createDatabase({ kind: 'postgres', url: url.toString() });
    const migrated = await migrateToLatest(handle.db);
    if (migrated.error !== undefined) throw migrated.error;
    const store = new RolloutStore(handle.db);
    for (let i = 0; i < ROLLOUTS; i++) {
      const rule = rules[i % ENVIRONMENTS]!;
      await store.create({ rolloutKey: `${rule.name}:${i}`, rule: rule.name, workflow: 'short', environment: rule.environment, project: 'bench', branch: 'main', changeNumber: i + 1, patchset: 1, revision: i.toString(16).padStart(40, '0'), newRev: undefined, subject: `bench ${i}`, decision: 'allow', reasons: [], approvers: [], justification: 'bench', stepIds: ['a', 'b'] });
    }
    const started = performance.now();
    const children = Array.from({ length: replicas }, (_, i) => spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'replica', url.toString(), `replica-${i + 1}`], { stdio: 'inherit' }));
    const codes = await Promise.all(children.map((c) => new Promise<number | null>((r) => c.on('exit', r))));
    const wallMs = performance.now() - started;
    if (codes.some((c) => c !== 0)) throw new Error(`a replica exited with ${codes.join(', ')}`);
    const succeeded = await handle.db.selectFrom('rollouts').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'succeeded').executeTakeFirstOrThrow();
    const twice = await sql<{ n: number }>`select count(*)::int as n from (select rollout_id, step_id from step_attempts group by rollout_id, step_id having count(*) > 1) t`.execute(handle.db);
    const byReplica = await sql<{ worker: string; n: number }>`select worker, count(distinct rollout_id)::int as n from step_attempts group by worker order by worker`.execute(handle.db);
    await handle.close();
    const rate = ROLLOUTS / (wallMs / 1000);
    console.log(`${replicas} replica${replicas > 1 ? 's' : ' '}: ${succeeded.n} of ${ROLLOUTS} rollouts succeeded in ${(wallMs / 1000).toFixed(1)} s = ${rate.toFixed(1)} rollouts/s; steps run twice: ${twice.rows[0]!.n}; rollouts per replica: ${byReplica.rows.map((r) => `${r.worker} ${r.n}`).join(', ')}`);
    console.log(`replicas_${replicas}_rollouts_per_s=${rate.toFixed(1)}`);
    console.log(`replicas_${replicas}_steps_run_twice=${twice.rows[0]!.n}`);
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

if (process.argv[2] === 'replica') {
  await replica(process.argv[3]!, process.argv[4]!);
} else {
  const server = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!server) console.log('\n*** replicas: PostgreSQL was NOT measured (set BENCH_DATABASE_URL or TEST_DATABASE_URL) ***');
  else {
    console.log(`\nreplicas: ${ROLLOUTS} rollouts of two 20 ms steps over ${ENVIRONMENTS} environments, ${LOOPS_PER_REPLICA} workers per replica, on one PostgreSQL`);
    for (const n of [1, 2, 3]) await run(server, n);
  }
}
