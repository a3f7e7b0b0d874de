/**
 * `npm run bench` (latency part): from a change-merged line sent by the SSH double to the
 * decision stored, the rollout claimed, and its first step started, with settle 0 and the REST
 * double, one merge at a time (each sent once the previous rollout has finished and its messages
 * are posted, so none waits for its environment or shares the service with a report), on PGlite and on PostgreSQL. The service runs with its default poll
 * (1 s): whatever is faster than that was woken, not polled. A few merges first warm it up (the
 * first statements of each kind, the first connections, the JIT) and are not counted: the figure
 * is the steady state of a running service. Ends with one `name=value` line per figure.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { startService } from '../src/service/service.js';
import { alice, bob, changeMergedEvent, GROUPS, mergedChange } from '../test/helpers/change-events.js';
import { doubleSettings } from '../test/helpers/double-settings.js';
import { startRestGerritDouble } from '../test/helpers/rest-gerrit-double.js';
import { startSshGerritDouble } from '../test/helpers/ssh-gerrit-double.js';

const MERGES = Number(process.env.BENCH_MERGES ?? 200);
const WARM_UP = 5;
const TARGET_P99_MS = 50;
const figures: Array<[string, number]> = [];

/** The p-th percentile, nearest rank. */
function pct(xs: readonly number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function latency(name: string, databaseUrl: string | undefined): Promise<void> {
  const ssh = await startSshGerritDouble();
  const rest = await startRestGerritDouble();
  const tmp = mkdtempSync(path.join(tmpdir(), 'rollgate-bench-'));
  try {
    mkdirSync(path.join(tmp, 'record'));
    const config = loadConfig({
      PATH: process.env.PATH,
      PORT: '0',
      ROLLGATE_DATA_DIR: 'memory://',
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      ROLLGATE_POLICY_DIR: path.resolve('test/fixtures/policies'),
      ROLLGATE_WORK_DIR: path.resolve('test/fixtures'),
      ROLLGATE_SETTLE_MS: '0',
      ...doubleSettings(tmp, { rest, ssh }),
    });
    rest.addAccount(alice, [GROUPS.sre]);
    const service = await startService(config, silentLogger());
    await ssh.waitForSession(1);
    const stages = { decided: [] as number[], claimed: [] as number[], started: [] as number[] };
    const db = service.database.db;
    for (let i = 0; i < WARM_UP + MERGES; i++) {
      const change = mergedChange(900_000 + i, bob, { commitMessage: 'x\n\nRollout-Justification: bench\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
      rest.setChange(change);
      const sent = Date.now();
      ssh.push(changeMergedEvent(change));
      let id: number | undefined;
      for (;;) {
        const row = await db.selectFrom('rollouts').select(['id', 'created_at', 'started_at']).where('change_number', '=', change.number).executeTakeFirst();
        if (row) {
          id = row.id;
          const step = await db.selectFrom('rollout_steps').select('started_at').where('rollout_id', '=', row.id).where('started_at', 'is not', null).orderBy('started_at').executeTakeFirst();
          if (step?.started_at && row.started_at) {
            if (i >= WARM_UP) {
              stages.decided.push(row.created_at.getTime() - sent);
              stages.claimed.push(row.started_at.getTime() - sent);
              stages.started.push(step.started_at.getTime() - sent);
            }
            break;
          }
        }
        // the times are the database's own: how often this looks only adds load (on PGlite, to the one session)
        await new Promise((r) => setTimeout(r, 10));
      }
      // the next merge finds the service idle: its environment free and its messages posted
      for (;;) {
        const row = await db.selectFrom('rollouts').select('finished_at').where('id', '=', id).executeTakeFirstOrThrow();
        const unsent = await db.selectFrom('outbox').select('id').where('status', '=', 'pending').limit(1).executeTakeFirst();
        if (row.finished_at && !unsent) break;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    await service.stop();
    const line = (xs: number[]) => `p50 ${pct(xs, 50)} ms p99 ${pct(xs, 99)} ms max ${Math.max(...xs)} ms`;
    console.log(`latency (${name}, ${MERGES} merges after ${WARM_UP} to warm up): decision stored ${line(stages.decided)}; rollout claimed ${line(stages.claimed)}; first step started ${line(stages.started)} (target p99 <= ${TARGET_P99_MS} ms)`);
    figures.push(
      [`merge_to_decision_p50_ms_${name}`, pct(stages.decided, 50)],
      [`merge_to_decision_p99_ms_${name}`, pct(stages.decided, 99)],
      [`merge_to_claim_p99_ms_${name}`, pct(stages.claimed, 99)],
      [`merge_to_first_step_p50_ms_${name}`, pct(stages.started, 50)],
      [`merge_to_first_step_p99_ms_${name}`, pct(stages.started, 99)],
    );
  } finally {
    await ssh.close();
    await rest.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

console.log(`\nlatency: merge -> decision -> claim -> first step, settle 0, REST double, node ${process.version}`);
await latency('pglite', undefined);
const serverUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (serverUrl) {
  const name = `rollgate_bench_latency_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  try {
    await latency('postgres', url.toString());
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
} else console.log('*** PostgreSQL was NOT measured: set BENCH_DATABASE_URL (or TEST_DATABASE_URL) to a server. ***');
for (const [name, value] of figures) console.log(`${name}=${value}`);
