import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { z } from 'zod';
import { extractTarGz } from './tar-extract.js';

/**
 * A fresh embedded folder is seeded from a pristine data folder made at build time, instead of
 * PGlite running initdb in the process. PGlite's initdb runs a second PostgreSQL instance and
 * copies its heap and a tar of its result in memory: `rollgate migrate` on a fresh folder peaked
 * at about 810 MB against 260 MB on an initialised one, and a WebAssembly heap never shrinks.
 *
 * The archive is PGlite's own `dumpDataDir()` of a folder that PGlite initialised and then shut
 * down cleanly, made by `npm run build` from the installed PGlite (scripts/build.ts) and named by
 * that PGlite's version: an archive of another version is not used. Where there is none (a run of
 * the sources under tsx, or a PGlite upgraded after the build), PGlite runs initdb as before.
 */

/** PostgreSQL's own mark of an initialised data folder; PGlite runs initdb where it is missing. */
const MARKER = 'PG_VERSION';

/** Where the compiled code looks for the archive: beside itself (dist/src/db/). */
export const DEFAULT_PRISTINE_ARCHIVE_DIR = path.dirname(fileURLToPath(import.meta.url));

const PgliteManifest = z.object({ name: z.literal('@electric-sql/pglite'), version: z.string().min(1) });

/** The installed PGlite's version, from its package.json (which its `exports` do not expose, so found beside its entry point). */
export function installedPgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const manifestFile = path.resolve(path.dirname(entry), '..', 'package.json');
  const parsed = PgliteManifest.safeParse(JSON.parse(readFileSync(manifestFile, 'utf8')));
  if (!parsed.success) throw new Error(`${manifestFile}: not the package.json of @electric-sql/pglite (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`);
  return parsed.data.version;
}

/** The archive's file name for a PGlite version. */
export function pristineArchiveName(pgliteVersion: string): string {
  return `pglite-${pgliteVersion}-pristine-data-dir.tar.gz`;
}

/** Writes the archive for the installed PGlite into `dir` (at build time; PGlite runs initdb here, once); returns its path. */
export async function writePristineArchive(dir: string): Promise<string> {
  const scratch = mkdtempSync(path.join(tmpdir(), 'rollgate-pristine-'));
  try {
    const dataDir = path.join(scratch, 'data');
    // initdb, then a clean shutdown: the folder is what a fresh folder is after its first close
    const initialised = await PGlite.create({ dataDir });
    await initialised.close();
    // noInitDb opens the folder without starting PostgreSQL, so the tar is of the shut-down files
    const unstarted = await PGlite.create({ dataDir, noInitDb: true });
    const tarball = await unstarted.dumpDataDir('gzip');
    await unstarted.close();
    const file = path.join(dir, pristineArchiveName(installedPgliteVersion()));
    writeFileSync(file, Buffer.from(await tarball.arrayBuffer()));
    return file;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Seeds `dataDir` from the archive in `archiveDir` when the folder is not initialised yet and the
 * archive for the installed PGlite is there; true when it did. PG_VERSION is written last, so an
 * unpacking cut short leaves a folder that is seeded again on the next open.
 */
export async function seedFromPristineArchive(dataDir: string, archiveDir: string = DEFAULT_PRISTINE_ARCHIVE_DIR): Promise<boolean> {
  if (existsSync(path.join(dataDir, MARKER))) return false;
  const archive = path.join(archiveDir, pristineArchiveName(installedPgliteVersion()));
  if (!existsSync(archive)) return false;
  await extractTarGz(archive, dataDir, { last: [MARKER] });
  return true;
}
