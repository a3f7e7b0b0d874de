import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { StepProcesses } from './step-processes.js';

/**
 * A step's processes outlive a `kill -9` of rollgate: steps are spawned detached (their own
 * group and session, or cgroup, so a timeout can stop everything they started), so nothing
 * signals them when rollgate dies. The worker that reclaims the step kills what is left before it runs the step again, but
 * only on the host that started it: process ids mean nothing elsewhere.
 */

/**
 * This machine as it is now: its host name plus, on Linux, the boot id, so a process group
 * recorded before a reboot (whose id some unrelated process may have now) is never taken for ours.
 */
export const THIS_HOST = `${hostname()}${bootId()}`;

function bootId(): string {
  try {
    return ` boot ${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().slice(0, 8)}`;
  } catch {
    return '';
  }
}

export type OrphanEnd = 'gone' | 'terminated' | 'killed' | 'not-ours';

/**
 * Stops what a step that led process group `pgid` left running: the group, its session, their
 * descendants and the step's cgroup (see step-processes.ts); SIGTERM, then SIGKILL after
 * `graceMs`. Says how it ended: `gone` (nothing was running), `terminated`, `killed`, or
 * `not-ours` (the group belongs to another user's processes now, which rollgate leaves alone).
 */
export async function stopProcessGroup(pgid: number, graceMs = 5000): Promise<OrphanEnd> {
  if (signalGroup(pgid, 0) === 'not-ours') return 'not-ours';
  const left = StepProcesses.leftBy(pgid);
  try {
    return await left.stop(graceMs);
  } finally {
    left.release();
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): 'sent' | 'gone' | 'not-ours' {
  try {
    process.kill(-pgid, signal);
    return 'sent';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'not-ours' : 'gone';
  }
}
