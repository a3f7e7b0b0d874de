import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * A step's process group outlives a `kill -9` of rollgate: steps are spawned detached (their own
 * group, so a timeout can kill everything they started), so nothing signals them when rollgate
 * dies. The worker that reclaims the step kills what is left before it runs the step again, but
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
 * Stops process group `pgid` if it is still running: SIGTERM, then SIGKILL after `graceMs`.
 * Says how it ended: `gone` (nothing was running), `terminated`, `killed`, or `not-ours` (the id
 * belongs to another user's processes now, which rollgate leaves alone).
 */
export async function stopProcessGroup(pgid: number, graceMs = 5000): Promise<OrphanEnd> {
  const first = signalGroup(pgid, 'SIGTERM');
  if (first !== 'sent') return first;
  if (await groupGone(pgid, graceMs)) return 'terminated';
  signalGroup(pgid, 'SIGKILL');
  await groupGone(pgid, 2000);
  return 'killed';
}

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): 'sent' | 'gone' | 'not-ours' {
  try {
    process.kill(-pgid, signal);
    return 'sent';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'not-ours' : 'gone';
  }
}

async function groupGone(pgid: number, withinMs: number): Promise<boolean> {
  const until = Date.now() + withinMs;
  for (;;) {
    if (signalGroup(pgid, 0) !== 'sent') return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
