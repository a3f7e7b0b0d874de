import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Folders `tempDir` made in this test file (each file has its own copy of this module). */
const made = new Set<string>();

/**
 * A fresh folder under the system's temporary folder, removed once the test file's tests (and
 * their own after-hooks, which stop what wrote into it) are done: remove-temp-dirs.ts, the setup
 * file of every tier, removes them.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  made.add(dir);
  return dir;
}

/** Removes every folder `tempDir` made so far. */
export function removeTempDirs(): void {
  for (const dir of made) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  made.clear();
}
