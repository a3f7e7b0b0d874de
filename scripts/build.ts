/**
 * Compiles src/ and migrations/ to dist/ (`npm run build`, `npm pack`), or with `--if-changed` only
 * when the inputs differ from the last build (`npm start`), so a start after no change takes a
 * fraction of a second instead of a full compile. Beside the compiled database code it puts the
 * pristine embedded data folder made by the installed PGlite (src/db/pristine-data-dir.ts).
 *
 * The inputs are hashed by content, not compared by mtime: a checkout, a copy or a clock change
 * moves mtimes without changing the sources, and a deleted source file changes the hash too.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
const STAMP = path.join(DIST, '.build-stamp');
/** What the compiled output depends on: the sources, the compiler settings and the compiler version (in the lock file). */
const INPUT_DIRS = ['src', 'migrations'];
const INPUT_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];
/** The folders the build writes; removed first so output of a deleted source does not linger and get packed. */
const OUTPUT_DIRS = ['src', 'migrations'];

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

function inputHash(): string {
  const files = [...INPUT_DIRS.flatMap((dir) => filesUnder(path.join(ROOT, dir))), ...INPUT_FILES.map((file) => path.join(ROOT, file)).filter((file) => existsSync(file))].sort();
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${path.relative(ROOT, file)}\0`);
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

function upToDate(hash: string): boolean {
  if (!existsSync(path.join(DIST, 'src/cli/main.js')) || !existsSync(STAMP)) return false;
  return readFileSync(STAMP, 'utf8').trim() === hash;
}

function compile(): number {
  for (const dir of OUTPUT_DIRS) rmSync(path.join(DIST, dir), { recursive: true, force: true });
  rmSync(STAMP, { force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  return result.status ?? 1;
}

/** The pristine data folder a fresh embedded folder is seeded from (src/db/pristine-data-dir.ts), made by the installed PGlite. */
async function writeArchive(): Promise<number> {
  try {
    // imported here, not at the top: a start with nothing to build should not load PGlite
    const { writePristineArchive } = await import('../src/db/pristine-data-dir.js');
    await writePristineArchive(path.join(DIST, 'src/db'));
    return 0;
  } catch (err) {
    process.stderr.write(`rollgate: could not make the pristine embedded data folder: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const ifChanged = argv.includes('--if-changed');
  const hash = inputHash();
  if (ifChanged && upToDate(hash)) return 0;
  if (ifChanged) process.stderr.write('rollgate: sources changed since the last build, compiling to dist/ …\n');
  const status = compile() || (await writeArchive());
  // a failed compile leaves no stamp, so the next start tries again
  if (status === 0) writeFileSync(STAMP, `${hash}\n`);
  return status;
}

process.exitCode = await main(process.argv.slice(2));
