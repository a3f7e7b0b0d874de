/**
 * `npm run bench` (memory part): the resident memory of the compiled `rollgate` on the embedded
 * database, as an operator runs it: `rollgate migrate` on a fresh data folder (peak), and an idle
 * `rollgate serve` on a migrated folder (resident after it settled, and peak). Read from
 * /proc/<pid>/status (Linux), so the figures are the process's own, not this script's.
 * Ends with `name=value` lines, each beside its target.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const MAIN = path.resolve('dist/src/cli/main.js');
const build = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts', '--if-changed'], { stdio: 'inherit' });
if (build.status !== 0) throw new Error('the build failed');

/** VmRSS and VmHWM (peak) of a running process, in MiB. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kib('VmRSS') / 1024), peak: Math.round(kib('VmHWM') / 1024) };
}

/** A recording of `lines` stream-events lines: mostly ref updates, every 50th a merge of a change. */
function recording(file: string, lines: number): void {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const change = { project: 'payments/api', branch: 'main', id: `I${i}`, number: 100_000 + i, subject: `Change ${i}`, owner: { name: 'Bob', username: 'bob', email: 'bob@example.com' }, url: 'http://gerrit/c/1', status: 'MERGED' };
    const patchSet = { number: 1, revision: i.toString(16).padStart(40, 'a'), ref: `refs/changes/00/${i}/1`, uploader: change.owner, author: change.owner, createdOn: 1763884000 };
    out.push(
      JSON.stringify(
        i % 50 === 49
          ? { type: 'change-merged', change, patchSet, submitter: { name: 'Alice', username: 'alice', email: 'alice@example.com' }, newRev: patchSet.revision, eventCreatedOn: 1763884000 + i }
          : { type: 'ref-updated', refUpdate: { project: 'payments/api', refName: `refs/changes/00/${i}/meta`, oldRev: '0'.repeat(40), newRev: patchSet.revision }, submitter: change.owner, eventCreatedOn: 1763884000 + i },
      ),
    );
  }
  writeFileSync(file, `${out.join('\n')}\n`);
}

/** Runs the command until it exits, sampling its memory every 20 ms; the highest peak seen. */
async function peakOf(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  let peak = 0;
  const timer = setInterval(() => {
    try {
      const now = memoryOf(child.pid!).peak;
      // an exiting process has no memory figures left
      if (Number.isFinite(now)) peak = Math.max(peak, now);
    } catch {
      // exited between samples
    }
  }, 20);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(timer);
  if (code !== 0) throw new Error(`rollgate ${args.join(' ')} exited ${code}`);
  return peak;
}

const dir = mkdtempSync(path.join(tmpdir(), 'rollgate-bench-memory-'));
const env = { PATH: process.env.PATH, ROLLGATE_DATA_DIR: path.join(dir, 'data'), PORT: '0', LOG_LEVEL: 'warn' };
try {
  const migratePeak = await peakOf(['migrate'], env);
  // idle serve: no Gerrit, nothing to do; measured once it has settled
  const serve = spawn(process.execPath, [MAIN, 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  await new Promise((r) => setTimeout(r, 8000));
  const idle = memoryOf(serve.pid!);
  serve.kill('SIGTERM');
  await new Promise((r) => serve.on('exit', r));
  console.log(`\nmemory (embedded database, compiled build, node ${process.version}):`);
  console.log(`rollgate migrate on a fresh folder: peak ${migratePeak} MiB (target <= 300)`);
  console.log(`rollgate serve, idle: ${idle.rss} MiB resident, peak ${idle.peak} MiB (target <= 250)`);
  // replay streams its input: its memory must not grow with the recording
  const replayPeaks: Array<[number, number]> = [];
  for (const lines of [10_000, 100_000]) {
    const file = path.join(dir, `events-${lines}.jsonl`);
    recording(file, lines);
    const t = performance.now();
    replayPeaks.push([lines, await peakOf(['replay', file, '--dry-run', '--policies', path.resolve('test/fixtures/policies'), '--groups', path.resolve('test/fixtures/replay/groups.yaml')], env)]);
    console.log(`rollgate replay --dry-run of ${lines} lines: peak ${replayPeaks.at(-1)![1]} MiB in ${((performance.now() - t) / 1000).toFixed(1)} s (target <= 300 at 100000 lines)`);
  }
  console.log(`migrate_peak_rss_mib=${migratePeak}`);
  for (const [lines, peak] of replayPeaks) console.log(`replay_${lines}_lines_peak_rss_mib=${peak}`);
  console.log(`serve_idle_rss_mib=${idle.rss}`);
  console.log(`serve_peak_rss_mib=${idle.peak}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
