import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { RollgateError } from '../errors.js';

/** Who holds an embedded database folder, as written in its lock file. */
const LockHolderSchema = z.object({
  pid: z.number().int().positive(),
  host: z.string(),
  command: z.string(),
  since: z.string(),
});
export type LockHolder = z.infer<typeof LockHolderSchema>;

/** The lock file's name inside the data folder. */
export const LOCK_FILE = 'rollgate.lock';

/** Another process has the embedded database open; the message names it. Exit 1. */
export class DataDirInUseError extends RollgateError {
  override readonly code = 'database-in-use';
}

export interface DataDirLock {
  readonly holder: LockHolder;
  /** Removes the lock file, if it is still this process's. */
  release(): void;
}

/**
 * Takes the embedded database folder for this process alone. PGlite is PostgreSQL in one
 * process without a postmaster: two processes on one folder each write their own view of it and
 * the last to write wins, so rows one of them recorded are lost. Every process that opens the
 * folder (serve, replay, migrate, and the read-only commands, which could read a half-written
 * state) takes this lock first, or refuses naming the holder.
 *
 * The file is created atomically with its content complete: written under a name of its own,
 * then hard-linked to `rollgate.lock`, which fails when that exists (like O_EXCL, without a
 * window in which the file is there but empty). A lock whose process is gone (same host, pid
 * not alive) is stale and taken over, with `onTakeover` told; one from another host is never
 * guessed about.
 */
export function acquireDataDirLock(dataDir: string, options: { readonly command?: string; readonly onTakeover?: (stale: LockHolder) => void } = {}): DataDirLock {
  const file = path.join(dataDir, LOCK_FILE);
  const holder: LockHolder = { pid: process.pid, host: hostname(), command: (options.command ?? currentCommand()).slice(0, 200), since: new Date().toISOString() };
  const content = `${JSON.stringify(holder)}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryLink(file, content)) return held(file, content, holder);
    const existing = readHolder(file);
    if (existing === 'gone') continue;
    if (existing === 'unreadable') {
      throw new DataDirInUseError(`the embedded database in ${dataDir} has a lock file that cannot be read (${file}); if no rollgate process uses this folder, remove it`);
    }
    if (!isStale(existing.holder)) throw new DataDirInUseError(inUseMessage(dataDir, existing.holder, file));
    if (takeOver(file, existing.raw)) options.onTakeover?.(existing.holder);
  }
  throw new DataDirInUseError(`the embedded database in ${dataDir} is being opened by several processes at once; only one may open it (lock file ${file})`);
}

function inUseMessage(dataDir: string, h: LockHolder, file: string): string {
  const here = h.host === hostname();
  return (
    `the embedded database in ${dataDir} is in use by "${h.command}" (pid ${h.pid} on host ${h.host}, since ${h.since}): ` +
    `only one process may open it at a time. Stop that process first, or use PostgreSQL (DATABASE_URL) to run several` +
    (here ? '' : `; if that process is gone, remove ${file}`)
  );
}

/** Creates `file` with `content`, atomically; false when it exists. */
function tryLink(file: string, content: string): boolean {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(temp, content, { flag: 'wx' });
  try {
    linkSync(temp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(temp);
  }
}

function readHolder(file: string): { holder: LockHolder; raw: string } | 'gone' | 'unreadable' {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  try {
    const parsed = LockHolderSchema.safeParse(JSON.parse(raw));
    return parsed.success ? { holder: parsed.data, raw } : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** The holder's process is known to be gone: it ran on this host and its pid is not alive. */
function isStale(h: LockHolder): boolean {
  if (h.host !== hostname() || h.pid === process.pid) return false;
  try {
    process.kill(h.pid, 0);
    return false;
  } catch (err) {
    // EPERM: alive, under another user
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Removes a stale lock, unless another process took it over first: the file is moved aside
 * (atomic), and removed only if it is still the stale one that was judged; a fresh lock moved by
 * mistake is put back. True when this process removed the stale lock.
 */
function takeOver(file: string, staleRaw: string): boolean {
  const aside = `${file}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  const moved = readFileSync(aside, 'utf8');
  if (moved !== staleRaw) {
    try {
      linkSync(aside, file);
    } catch {
      // someone has locked it meanwhile; their lock stands
    }
    unlinkSync(aside);
    return false;
  }
  unlinkSync(aside);
  return true;
}

function held(file: string, content: string, holder: LockHolder): DataDirLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    try {
      // only our own lock: never one a later process took over
      if (readFileSync(file, 'utf8') === content) unlinkSync(file);
    } catch {
      // already gone
    }
  };
  // a process that exits without closing the database (process.exit) leaves no lock behind
  process.on('exit', release);
  return { holder, release };
}

/** How the running command is named in the lock: `rollgate serve`, `rollgate replay events.jsonl`. */
function currentCommand(): string {
  const script = path.basename(process.argv[1] ?? 'node');
  const name = /^main\.[jt]s$/.test(script) || script === 'rollgate' ? 'rollgate' : script;
  return [name, ...process.argv.slice(2)].join(' ');
}
