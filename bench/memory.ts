/**
 * `npm run bench` (memory part): the resident memory of the compiled `rollgate` on the embedded
 * database, as an operator runs it: `rollgate migrate` on a fresh data folder (peak), and an idle
 * `rollgate serve` on a migrated folder (resident after it settled, and peak). Read from
 * /proc/<pid>/status (Linux), so the figures are the process's own, not this script's.
 * Ends with `name=value` lines, each beside its target.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
  console.log(`migrate_peak_rss_mib=${migratePeak}`);
  console.log(`serve_idle_rss_mib=${idle.rss}`);
  console.log(`serve_peak_rss_mib=${idle.peak}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
