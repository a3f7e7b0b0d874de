/**
 * How long a hung Gerrit stream leader takes to be replaced: two `rollgate serve` processes on
 * one PostgreSQL and the Gerrit doubles; each trial stops the leader with SIGSTOP (its TCP
 * sessions stay open, so only the lease can tell) and times until the other replica's stream
 * session is open at the SSH double, then wakes the old leader and waits until it has closed its
 * stream and steadied as a follower (with BENCH_FAULT=kill: kills it and starts a replacement).
 * Prints figures, never pass/fail.
 *
 *   BENCH_DATABASE_URL (or TEST_DATABASE_URL)   a PostgreSQL server; a scratch database is made and dropped
 *   BENCH_TRIALS (20)                           trials
 *   BENCH_FAULT (stop)                          stop: SIGSTOP the leader; kill: SIGKILL it (and start a replacement)
 *   ROLLGATE_LEADER_LEASE_MS / _RENEW_MS / _POLL_MS   the settings measured (rollgate's defaults when unset)
 *
 * Run: node --import tsx bench/leader-takeover.ts
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import type { TestDatabase } from '../test/helpers/backends.js';
import { GROUPS, alice, bob } from '../test/helpers/change-events.js';
import { startRestGerritDouble } from '../test/helpers/rest-gerrit-double.js';
import { serveSetup, ServeProcess } from '../test/helpers/serve-process.js';
import { startSshGerritDouble, type SshGerritDouble } from '../test/helpers/ssh-gerrit-double.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 20);
/** `stop` (SIGSTOP: a hung leader, replaced when its lease lapses) or `kill` (SIGKILL: replaced when its session is gone). */
const FAULT = process.env.BENCH_FAULT === 'kill' ? 'kill' : 'stop';
const serverUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
const LEADS = '"msg":"this replica is now the Gerrit stream leader"';
const STOOD_DOWN = '"msg":"this replica is no longer the Gerrit stream leader"';

const WORKFLOW = `name: deploy-service
steps:
  - id: build
    run: ["./ops/step.mjs", "build"]
`;

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const count = (text: string, what: string) => text.split(what).length - 1;
/** Leads now: has become the leader more often than it has stood down. */
const leadsNow = (r: ServeProcess) => count(r.stdout, LEADS) > count(r.stdout, STOOD_DOWN);

function percentile(sorted: readonly number[], p: number): number {
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

async function scratchDatabase(url: string): Promise<TestDatabase> {
  const name = `rollgate_bench_takeover_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const target = new URL(url);
  target.pathname = `/${name}`;
  return {
    target: { kind: 'postgres', url: target.toString() },
    url: target.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

async function main(): Promise<void> {
  if (!serverUrl) {
    console.log('leader takeover: not measured: set BENCH_DATABASE_URL (or TEST_DATABASE_URL) to a PostgreSQL server; PGlite is one process, with no leader to replace');
    return;
  }
  // the settings the replicas will run with, read the way serve reads them
  const settings = loadConfig({ ...process.env, DATABASE_URL: serverUrl });
  const env = {
    ROLLGATE_LEADER_LEASE_MS: String(settings.leaderLeaseMs),
    ROLLGATE_LEADER_RENEW_MS: String(settings.leaderRenewMs),
    ROLLGATE_LEADER_POLL_MS: String(settings.leaderPollMs),
  };
  const ssh: SshGerritDouble = await startSshGerritDouble();
  const rest = await startRestGerritDouble();
  rest.addAccount(alice, [GROUPS.sre]);
  rest.addAccount(bob, [GROUPS.developers]);
  const database = await scratchDatabase(serverUrl);
  const setup = serveSetup({ name: 'bench-takeover', workflow: WORKFLOW, database, ssh, rest, env: { ...env, LOG_LEVEL: 'info' } });
  const replicas = [new ServeProcess(setup.env), new ServeProcess(setup.env)];
  const samples: number[] = [];
  try {
    await Promise.all(replicas.map((r) => r.ready()));
    await until('one stream session', () => ssh.sessions === 1 && replicas.filter(leadsNow).length === 1, 60_000);
    let opened = 1;
    for (let trial = 0; trial < TRIALS; trial++) {
      const leader = replicas.find(leadsNow)!;
      leader.child.kill(FAULT === 'kill' ? 'SIGKILL' : 'SIGSTOP');
      const faultAt = performance.now();
      // the next stream session the double sees is the new leader's
      await ssh.waitForSession(++opened, settings.leaderLeaseMs * 3 + 30_000);
      samples.push(performance.now() - faultAt);
      if (FAULT === 'kill') {
        await leader.exited;
        const replacement = new ServeProcess(setup.env);
        replicas.splice(replicas.indexOf(leader), 1, replacement);
        await replacement.ready();
      } else {
        leader.child.kill('SIGCONT');
        await until('the woken leader to close its stream', () => ssh.sessions === 1 && !leadsNow(leader), 30_000);
      }
      // let the new leader renew at its own pace before the next fault, which lands anywhere in a renewal period
      await new Promise((r) => setTimeout(r, settings.leaderRenewMs + Math.random() * settings.leaderRenewMs));
    }
  } finally {
    for (const r of replicas) {
      r.child.kill('SIGCONT');
      r.child.kill('SIGKILL');
      await r.exited;
    }
    await database.drop();
    await ssh.close();
    await rest.close();
  }
  const sorted = [...samples].sort((a, b) => a - b);
  console.log(`leader takeover after ${FAULT === 'kill' ? 'SIGKILL' : 'SIGSTOP'}, ${samples.length} trials, two serve processes on PostgreSQL, lease ${settings.leaderLeaseMs} ms, renew ${settings.leaderRenewMs} ms, poll ${settings.leaderPollMs} ms`);
  const bound = FAULT === 'kill' ? settings.leaderPollMs : settings.leaderLeaseMs + settings.leaderPollMs;
  console.log(`  bound (docs): ${FAULT === 'kill' ? 'poll' : 'lease + poll'} + stream connect = ${bound} ms + connect`);
  console.log(`  min ${sorted[0]!.toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms`);
  console.log(`leader_takeover_p50_ms=${percentile(sorted, 50).toFixed(0)}`);
  console.log(`leader_takeover_p99_ms=${percentile(sorted, 99).toFixed(0)}`);
}

await main();
