import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { waitFor } from './wait-for.js';

/**
 * True while process `pid` runs: it exists and is not a zombie. A stopped step's processes are
 * reparented to PID 1, which on some machines reaps them only every few seconds, so `kill(pid, 0)`
 * would still see a process that has already ended.
 */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** What `escapedProcessesPerTest` gives a suite's tests. */
export interface EscapedProcesses {
  /** A fresh folder for this test (removed after it), and the path in it of the file for a pid. */
  newPidFile(): string;
  /** Waits for `what` to write its pid to `pidFile`, and notes that process to be killed after the test. */
  pidIn(pidFile: string, what: string): Promise<number>;
  /** Notes process `pid` to be killed after the test. */
  track(pid: number): void;
}

/**
 * For tests whose step leaves a process running on purpose: after each test every process noted
 * that still runs is killed first (before `teardown`, which may wait for their pipes), then the
 * test's folder removed, so a failing run leaves nothing behind for the next test or the machine.
 */
export function escapedProcessesPerTest(prefix: string, teardown?: () => Promise<void>): EscapedProcesses {
  const pids: number[] = [];
  let dir: string | undefined;
  afterEach(async () => {
    for (const pid of pids.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await teardown?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return {
    newPidFile() {
      dir = mkdtempSync(path.join(tmpdir(), `rollgate-${prefix}-`));
      return path.join(dir, 'sleep.pid');
    },
    async pidIn(pidFile, what) {
      const pid = await waitFor(what, () => (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '' ? Number(readFileSync(pidFile, 'utf8')) : undefined));
      pids.push(pid);
      return pid;
    },
    track(pid) {
      pids.push(pid);
    },
  };
}
