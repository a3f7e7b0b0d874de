/**
 * `npm run bench` (intake part): what rollgate's intake costs per stream event on a realistic
 * mix, against the floor of a bare `JSON.parse` of the same bytes in the same run; a burst through
 * the SSH double (merge-to-first-step latency is bench/latency.ts). Figures, not assertions:
 * speed is never a test. Ends with one `name=value` line per figure.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
  console.log(`ingest (${name}) vs bare JSON.parse: ${(floor / storedMs).toFixed(3)}${name === 'postgres' ? ' (target >= 0.25)' : ''}`);
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
  rmSync(tmp, { recursive: true, force: true });
}

await dropDb?.();

console.log('');
for (const [name, value] of figures) console.log(`${name}=${value}`);
