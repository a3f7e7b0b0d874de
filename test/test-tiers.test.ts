import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import { describe, expect, it } from 'vitest';
import { TEST_TIERS } from '../vitest.config.js';

// The tiers are vitest projects, and a project runs only the files its globs match: a test file
// that no tier names would never run, in `npm test` either. These checks keep the lists whole.

type Tier = keyof typeof TEST_TIERS;
const tiers = Object.keys(TEST_TIERS) as Tier[];

const testFiles = readdirSync('test', { recursive: true, encoding: 'utf8' })
  .map((file) => path.posix.join('test', file.split(path.sep).join('/')))
  .filter((file) => file.endsWith('.test.ts'))
  .sort();

const matchers = tiers.flatMap((tier) => TEST_TIERS[tier].map((glob) => ({ tier, glob, matches: picomatch(glob) })));

function tiersOf(file: string): Tier[] {
  return [...new Set(matchers.filter((m) => m.matches(file)).map((m) => m.tier))];
}

/** What a unit test may not reach, directly or through a test helper: a database, a Gerrit double, the service, the OIDC provider, a process or a browser. */
const NOT_UNIT = [
  /\/helpers\/(backends|rest-gerrit-double|ssh-gerrit-double|service-on-doubles|rollgate-with-login|serve-process|run-cli|oidc-provider|browser)\.js$/,
  /\/(engine-harness|fault-harness|throwaway-postgres)\.js$/,
  /\/real-gerrit\//,
  /(^|\/)src\/(service|db\/database|execute\/run-process)\.js$/,
  /^(node:child_process|child_process|pg|@electric-sql\/pglite|playwright-core|oidc-provider)$/,
];

const IMPORT = /\bfrom\s+['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm;

/** Every module a test file imports, following imports into other files under test/ (not into src/). */
function importsOf(file: string, seen = new Set<string>()): Set<string> {
  for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2] ?? match[3] ?? '';
    const resolved = specifier.startsWith('.') ? path.posix.join(path.posix.dirname(file), specifier) : specifier;
    if (seen.has(resolved)) continue;
    seen.add(resolved);
    const source = resolved.replace(/\.js$/, '.ts');
    if (source.startsWith('test/') && existsSync(source)) importsOf(source, seen);
  }
  return seen;
}

describe('test tiers', () => {
  it('puts every test file in exactly one tier', () => {
    expect(testFiles.length).toBeGreaterThan(0);
    const misplaced = Object.fromEntries(testFiles.map((file) => [file, tiersOf(file)] as const).filter(([, found]) => found.length !== 1));
    expect(misplaced).toEqual({});
  });

  it('names no file or folder that holds no test file', () => {
    const stale = matchers.filter((m) => !testFiles.some((file) => m.matches(file))).map((m) => `${m.tier}: ${m.glob}`);
    expect(stale).toEqual([]);
  });

  it('keeps the unit tier free of databases, doubles, processes and browsers', () => {
    const unitFiles = testFiles.filter((file) => tiersOf(file).includes('unit'));
    const reaches = Object.fromEntries(
      unitFiles
        .map((file) => [file, [...importsOf(file)].filter((imported) => NOT_UNIT.some((rule) => rule.test(imported)))] as const)
        .filter(([, found]) => found.length > 0),
    );
    expect(reaches).toEqual({});
  });
});
