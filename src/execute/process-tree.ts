import { readdirSync, readFileSync } from 'node:fs';

/**
 * What /proc says about the processes on this machine (Linux). Used to find everything a step
 * started, including processes that left its process group and session with setsid(): they keep
 * the step's parent chain until their parent exits, and its environment unless they clear it.
 * Everything here reads a snapshot and tolerates processes that vanish while it reads.
 */
export interface ProcessInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly sid: number;
  /** Start time in clock ticks since boot: with the pid, names one process even after pid reuse. */
  readonly startTime: string;
  readonly zombie: boolean;
}

/** Whether /proc can be read at all (it cannot on macOS; there only process groups are used). */
export const HAS_PROC = (() => {
  try {
    readFileSync('/proc/self/stat', 'utf8');
    return true;
  } catch {
    return false;
  }
})();

/** One process's /proc/<pid>/stat, or undefined once it is gone. */
export function processInfo(pid: number): ProcessInfo | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // the command name is in parentheses and may itself hold spaces and parentheses
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pid, ppid: Number(fields[1]), pgid: Number(fields[2]), sid: Number(fields[3]), startTime: fields[19] ?? '', zombie: fields[0] === 'Z' };
}

/** Every process /proc shows now, except this one (rollgate never stops itself). */
export function allProcesses(): ProcessInfo[] {
  if (!HAS_PROC) return [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: ProcessInfo[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const info = processInfo(Number(name));
    if (info) out.push(info);
  }
  return out;
}

/** Whether process `pid` has `NAME=value` in its environment (false when it is gone or not readable). */
export function hasEnvironmentEntry(pid: number, entry: string): boolean {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`);
    const needle = Buffer.from(`${entry}\0`);
    return environ.subarray(0, needle.length).equals(needle) || environ.includes(Buffer.concat([Buffer.from('\0'), needle]));
  } catch {
    return false;
  }
}
