import { readFileSync } from 'node:fs';

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
