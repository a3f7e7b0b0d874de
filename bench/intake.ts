/**
 * `npm run bench`: what rollgate's intake costs per stream event, against the floor of a bare
 * `JSON.parse` of the same lines, in the same run. Figures, not assertions: speed is never a test.
 */
import { performance } from 'node:perf_hooks';
import { createDatabase, migrateToLatest } from '../src/db/database.js';
import { eventDedupKey } from '../src/gerrit/change-key.js';
import { parseEventLine } from '../src/gerrit/gerrit-event.js';
import { LineSplitter } from '../src/gerrit/line-splitter.js';
import { EventStore } from '../src/intake/event-store.js';
import { Intake } from '../src/intake/intake.js';
import { silentLogger } from '../src/log.js';
import { changeMergedEvent, bob, mergedChange } from '../test/helpers/change-events.js';

const N = Number(process.env.BENCH_EVENTS ?? 20_000);
const lines = Array.from({ length: N }, (_, i) => JSON.stringify(changeMergedEvent(mergedChange(i + 1, bob))));
const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
const stream = Buffer.from(lines.join('\n') + '\n');

function time(label: string, fn: () => void, rounds = 5): number {
  fn(); // warm up
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)]!;
  console.log(`${label.padEnd(44)} ${(median / N * 1000).toFixed(2).padStart(8)} µs/event  ${(N / (median / 1000)).toFixed(0).padStart(9)} events/s`);
  return median;
}

console.log(`${N} change-merged lines, ${(bytes / 1024 / 1024).toFixed(1)} MiB, node ${process.version}\n`);
const floor = time('floor: JSON.parse', () => {
  for (const l of lines) JSON.parse(l);
});
const split = time('frame: LineSplitter over 64 KiB chunks', () => {
  const s = new LineSplitter();
  for (let o = 0; o < stream.length; o += 65536) s.push(stream.subarray(o, o + 65536));
});
const parse = time('parse: zod event schema + dedup key', () => {
  for (const l of lines) {
    const p = parseEventLine(l);
    if (p.kind === 'event') eventDedupKey(p.value);
  }
});

const db = await createDatabase({ kind: 'pglite', dataDir: 'memory://' });
await migrateToLatest(db.db);
const intake = new Intake({ store: new EventStore(db.db), logger: silentLogger(), settleMs: 0, onStored: () => {} });
let t = performance.now();
for (const text of lines) intake.accept({ kind: 'line', text }, 'stream');
const acceptMs = performance.now() - t;
await intake.flush();
const storeMs = performance.now() - t;
await db.close();
console.log(`${'reader: Intake.accept (what the socket pays)'.padEnd(44)} ${(acceptMs / N * 1000).toFixed(2).padStart(8)} µs/event`);
console.log(`${'durable: accept → stored in PGlite (batches)'.padEnd(44)} ${(storeMs / N * 1000).toFixed(2).padStart(8)} µs/event  ${(N / (storeMs / 1000)).toFixed(0).padStart(9)} events/s`);
console.log(`\nratios to the JSON.parse floor: framing ${(split / floor).toFixed(2)}x, parse+key ${(parse / floor).toFixed(2)}x, reader ${(acceptMs / floor).toFixed(2)}x, stored ${(storeMs / floor).toFixed(1)}x`);
