/**
 * `npm run bench` (intake part): what rollgate's intake costs per stream event on a realistic
 * mix, against the floor of a bare `JSON.parse` of the same bytes in the same run; a burst through
 * the SSH double; and the latency from a merge event to its first step. Figures, not assertions:
 * speed is never a test. Ends with one `name=value` line per figure.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createDatabase, migrateToLatest, type DatabaseTarget } from '../src/db/database.js';
import { eventDedupKey } from '../src/gerrit/change-key.js';
import { parseEventLine } from '../src/gerrit/gerrit-event.js';
import { EventStore } from '../src/rollouts/event-store.js';
import { Intake } from '../src/intake/intake.js';
import { silentLogger } from '../src/log.js';
import { startService } from '../src/service/service.js';
import { alice, bob, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../test/helpers/change-events.js';
import { startRestGerritDouble } from '../test/helpers/rest-gerrit-double.js';
import { startSshGerritDouble } from '../test/helpers/ssh-gerrit-double.js';
import { doubleSettings } from '../test/helpers/double-settings.js';

const N = Number(process.env.BENCH_EVENTS ?? 20_000);
const figures: Array<[string, number]> = [];
const figure = (name: string, value: number) => figures.push([name, value]);

/** A recorded-stream-like mix, ~1 KB per event: 40% ref-updated, 25% comment-added, 20% patchset-created, 10% change-merged, 5% reviewer-added. */
function mixedEvents(count: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const change = mergedChange(i + 1, bob, { commitMessage: `Change ${i}\n\n${'Some explanation of the change. '.repeat(8)}\n` });
    const merged = changeMergedEvent(change);
    const pick = i % 20;
    let event: Record<string, unknown>;
    if (pick < 8) {
      event = { type: 'ref-updated', submitter: merged.submitter, refUpdate: { oldRev: '0'.repeat(40), newRev: change.revision, refName: `refs/changes/${i % 100}/${i}/meta`, project: change.project }, eventCreatedOn: 1763884800 + i, padding: 'x'.repeat(700) };
    } else if (pick < 13) event = commentAddedEvent(change, alice, `Looks good ${i}`);
    else if (pick < 17) event = { ...merged, type: 'patchset-created', uploader: (merged.patchSet as { uploader: unknown }).uploader, newRev: undefined };
    else if (pick < 19) event = merged;
    else event = { type: 'reviewer-added', change: merged.change, patchSet: merged.patchSet, reviewer: merged.submitter, adder: merged.submitter, eventCreatedOn: 1763884800 + i };
    lines.push(JSON.stringify(event));
  }
  return lines;
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function timeSync(fn: () => void, rounds = 5): number {
  fn();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  return median(samples);
}

const line = (label: string, ms: number, count = N) =>
  console.log(`${label.padEnd(46)} ${((ms / count) * 1000).toFixed(2).padStart(8)} µs/event ${(count / (ms / 1000)).toFixed(0).padStart(9)} events/s`);

const lines = mixedEvents(N);
const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
console.log(`intake: ${N} events (realistic mix), ${(bytes / 1024 / 1024).toFixed(1)} MiB, ${Math.round(bytes / N)} bytes/event, node ${process.version}\n`);
const floor = timeSync(() => {
  for (const l of lines) JSON.parse(l);
});
line('floor: JSON.parse of the same bytes', floor);
const parse = timeSync(() => {
  for (const l of lines) {
    const p = parseEventLine(l);
    if (p.kind !== 'invalid') eventDedupKey(p.value, l);
  }
});
line('parse: zod event schema + dedup key', parse);
figure('parse_vs_json_parse_ratio', floor / parse);

async function ingest(name: string, target: DatabaseTarget): Promise<void> {
  const db = await createDatabase(target);
  await migrateToLatest(db.db);
  // as the service builds it: parallel writes where the database has a pool
  const intake = new Intake({ store: new EventStore(db.db), logger: silentLogger(), settleMs: 0, onStored: () => {}, parallelWrites: db.singleConnection ? 1 : 4 });
  const t = performance.now();
  for (const text of lines) intake.accept({ kind: 'line', text }, 'stream');
  const acceptMs = performance.now() - t;
  await intake.flush();
  const storedMs = performance.now() - t;
  await db.close();
  line(`reader (${name}): Intake.accept`, acceptMs);
  line(`ingest (${name}): parsed, validated, stored`, storedMs);
  figure(`ingest_${name}_events_per_s`, Math.round(N / (storedMs / 1000)));
  figure(`ingest_${name}_vs_parse_ratio`, Number((floor / storedMs).toFixed(3)));
}

await ingest('pglite', { kind: 'pglite', dataDir: 'memory://' });
const serverUrl = process.env.TEST_DATABASE_URL ?? process.env.BENCH_DATABASE_URL;
let dropDb: (() => Promise<void>) | undefined;
if (serverUrl) {
  const name = `rollgate_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  await ingest('postgres', { kind: 'postgres', url: url.toString() });
  dropDb = async () => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    await c.query(`drop database if exists ${name} with (force)`);
    await c.end();
  };
} else console.log('(TEST_DATABASE_URL not set: PostgreSQL ingest not measured)');

// burst: the SSH double writes events as fast as it can; the reader must keep up and all get stored
{
  const BURST = Number(process.env.BENCH_BURST ?? 10_000);
  const ssh = await startSshGerritDouble();
  const rest = await startRestGerritDouble();
  const tmp = mkdtempSync(path.join(tmpdir(), 'rollgate-bench-'));
  mkdirSync(path.join(tmp, 'record'));
  const config = loadConfig({
    PATH: process.env.PATH,
    PORT: '0',
    ROLLGATE_DATA_DIR: 'memory://',
    ROLLGATE_POLICY_DIR: path.resolve('test/fixtures/policies'),
    ROLLGATE_WORK_DIR: path.resolve('test/fixtures'),
    ROLLGATE_SETTLE_MS: '0',
    ...doubleSettings(tmp, { rest, ssh }),
  });
  rest.addAccount(alice, [GROUPS.sre]);
  const service = await startService(config, silentLogger(), { idleMs: 20 });
  await ssh.waitForSession(1);
  const burst = mixedEvents(BURST).filter((l) => !l.includes('"type":"change-merged"') && !l.includes('"type":"comment-added"'));
  const t = performance.now();
  ssh.pushRaw(burst.join('\n') + '\n');
  const count = async () => Number((await service.database.db.selectFrom('events').select(({ fn }) => fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  while ((await count()) < burst.length) await new Promise((r) => setTimeout(r, 20));
  const burstMs = performance.now() - t;
  line(`burst (pglite): ${burst.length} events pushed at once, all stored`, burstMs, burst.length);
  figure('burst_events_per_s', Math.round(burst.length / (burstMs / 1000)));

  await service.stop();
  await ssh.close();
  await rest.close();
}

/**
 * Latency: a change-merged line sent by the SSH double → decision stored → first step started,
 * with settle 0 and the REST double, one merge at a time (each sent once the previous rollout has
 * finished, so none waits for its environment), on the given database.
 */
async function latency(name: string, databaseUrl: string | undefined): Promise<void> {
  const MERGES = Number(process.env.BENCH_MERGES ?? 40);
  const ssh = await startSshGerritDouble();
  const rest = await startRestGerritDouble();
  const tmp = mkdtempSync(path.join(tmpdir(), 'rollgate-bench-'));
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
  // the default poll (1 s): whatever is faster than that was woken, not polled
  const service = await startService(config, silentLogger());
  await ssh.waitForSession(1);
  const latencies: { decided: number[]; started: number[] } = { decided: [], started: [] };
  const db = service.database.db;
  for (let i = 0; i < MERGES; i++) {
    const change = mergedChange(900_000 + i, bob, { commitMessage: 'x\n\nRollout-Justification: bench\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    rest.setChange(change);
    const sent = Date.now();
    ssh.push(changeMergedEvent(change));
    let decidedAt: number | undefined;
    let id: number | undefined;
    for (;;) {
      const row = await db.selectFrom('rollouts').select(['id', 'created_at']).where('change_number', '=', change.number).executeTakeFirst();
      if (row) {
        decidedAt ??= row.created_at.getTime();
        id = row.id;
        const step = await db.selectFrom('rollout_steps').select('started_at').where('rollout_id', '=', row.id).where('started_at', 'is not', null).orderBy('started_at').executeTakeFirst();
        if (step?.started_at) {
          latencies.decided.push(decidedAt - sent);
          latencies.started.push(step.started_at.getTime() - sent);
          break;
        }
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    // the next merge finds its environment free
    for (;;) {
      const row = await db.selectFrom('rollouts').select('finished_at').where('id', '=', id).executeTakeFirstOrThrow();
      if (row.finished_at) break;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  await service.stop();
  await ssh.close();
  await rest.close();
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
  console.log(`latency (${name}, ${MERGES} merges): decision stored p50 ${pct(latencies.decided, 50)} ms p99 ${pct(latencies.decided, 99)} ms; first step started p50 ${pct(latencies.started, 50)} ms p99 ${pct(latencies.started, 99)} ms (target p99 <= 50 ms)`);
  figure(`merge_to_decision_p50_ms_${name}`, pct(latencies.decided, 50));
  figure(`merge_to_decision_p99_ms_${name}`, pct(latencies.decided, 99));
  figure(`merge_to_first_step_p50_ms_${name}`, pct(latencies.started, 50));
  figure(`merge_to_first_step_p99_ms_${name}`, pct(latencies.started, 99));
}

await latency('pglite', undefined);
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
}
await dropDb?.();

console.log('');
for (const [name, value] of figures) console.log(`${name}=${value}`);
