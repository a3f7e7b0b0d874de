import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `npm start` runs `scripts/build.ts --if-changed` before serving. Here the script works on a
 * small project of the same layout (a copy of the script, this checkout's node_modules), so a
 * compile takes a second instead of the whole of rollgate.
 */

let project: string;

function write(file: string, text: string): void {
  mkdirSync(path.dirname(path.join(project, file)), { recursive: true });
  writeFileSync(path.join(project, file), text);
}

function build(...args: string[]): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts', ...args], { cwd: project, encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}

const compiled = (stderr: string) => stderr.includes('sources changed since the last build, compiling');

beforeAll(() => {
  project = mkdtempSync(path.join(tmpdir(), 'rollgate-build-'));
  mkdirSync(path.join(project, 'scripts'));
  copyFileSync(path.resolve('scripts/build.ts'), path.join(project, 'scripts/build.ts'));
  symlinkSync(path.resolve('node_modules'), path.join(project, 'node_modules'));
  write('package.json', '{ "type": "module" }\n');
  write('tsconfig.json', JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'dist', rootDir: '.', lib: ['ES2022'], types: [] } }));
  write('tsconfig.build.json', JSON.stringify({ extends: './tsconfig.json', include: ['src', 'migrations'] }));
  write('src/cli/main.ts', "export { greeting } from '../greeting.js';\n");
  write('src/greeting.ts', "export const greeting = 'one';\n");
  write('migrations/0001_initial.ts', 'export const up = 1;\n');
  // the build also writes the pristine embedded data folder; making a real one is not what this tests
  write('src/db/pristine-data-dir.ts', 'export async function writePristineArchive(dir: string): Promise<string> {\n  return dir;\n}\n');
});

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('scripts/build.ts --if-changed (npm start)', () => {
  it('compiles when there is no build yet, and leaves a stamp', { timeout: 60_000 }, () => {
    const first = build('--if-changed');
    expect(first.status).toBe(0);
    expect(compiled(first.stderr)).toBe(true);
    expect(readFileSync(path.join(project, 'dist/src/greeting.js'), 'utf8')).toContain("'one'");
    expect(readFileSync(path.join(project, 'dist/.build-stamp'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
  });

  it('does not compile again when nothing changed, nor when only mtimes moved', () => {
    const again = build('--if-changed');
    expect(again).toEqual({ status: 0, stderr: '' });
    const later = new Date(Date.now() + 60_000);
    utimesSync(path.join(project, 'src/greeting.ts'), later, later);
    expect(build('--if-changed')).toEqual({ status: 0, stderr: '' });
  });

  it('compiles when a source, a migration or the compiler settings changed', { timeout: 180_000 }, () => {
    write('src/greeting.ts', "export const greeting = 'two';\n");
    expect(compiled(build('--if-changed').stderr)).toBe(true);
    expect(readFileSync(path.join(project, 'dist/src/greeting.js'), 'utf8')).toContain("'two'");
    write('migrations/0002_next.ts', 'export const up = 2;\n');
    expect(compiled(build('--if-changed').stderr)).toBe(true);
    expect(existsSync(path.join(project, 'dist/migrations/0002_next.js'))).toBe(true);
    write('tsconfig.build.json', JSON.stringify({ extends: './tsconfig.json', include: ['src', 'migrations'], compilerOptions: { removeComments: true } }));
    expect(compiled(build('--if-changed').stderr)).toBe(true);
    expect(build('--if-changed')).toEqual({ status: 0, stderr: '' });
  });

  it('removes the output of a deleted source, so it is neither run nor packed', { timeout: 60_000 }, () => {
    rmSync(path.join(project, 'migrations/0002_next.ts'));
    expect(compiled(build('--if-changed').stderr)).toBe(true);
    expect(existsSync(path.join(project, 'dist/migrations/0002_next.js'))).toBe(false);
  });

  it('a failed compile leaves no stamp and fails, so the next start tries again; without --if-changed it always compiles', { timeout: 180_000 }, () => {
    write('src/greeting.ts', 'export const greeting: number = "three";\n');
    const failed = build('--if-changed');
    expect(failed.status).not.toBe(0);
    expect(existsSync(path.join(project, 'dist/.build-stamp'))).toBe(false);
    expect(compiled(build('--if-changed').stderr)).toBe(true);
    write('src/greeting.ts', "export const greeting = 'four';\n");
    const output = path.join(project, 'dist/src/greeting.js');
    expect(build()).toEqual({ status: 0, stderr: '' });
    expect(readFileSync(output, 'utf8')).toContain("'four'");
    const old = new Date(Date.now() - 60_000);
    utimesSync(output, old, old);
    expect(build()).toEqual({ status: 0, stderr: '' });
    expect(statSync(output).mtimeMs).toBeGreaterThan(old.getTime() + 30_000);
    expect(build('--if-changed')).toEqual({ status: 0, stderr: '' });
  });
});
