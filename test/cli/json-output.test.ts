import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditStore } from '../../src/audit/audit-store.js';
import type { AuditVerifyJson } from '../../src/cli/audit.js';
import type { PolicyCheckJson } from '../../src/cli/policy-check.js';
import type { PolicyTestJson } from '../../src/cli/policy-test.js';
import { migrateToLatest } from '../../src/db/database.js';
import { withAuditTriggerOff } from '../helpers/audit-tamper.js';
import { BACKENDS, createCliTestDatabase, type CliTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const tmp = () => tempDir('rollgate-json-');

/** The shipped policies with one passing and one failing test case. */
function policyWithTests(): string {
  const dir = tmp();
  cpSync('policies', dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}tests`) });
  mkdirSync(path.join(dir, 'tests'));
  const testCase = (name: string, outcome: string) => [
    `  - name: ${name}`,
    '    change: { project: payments/api, owner: bob, files: [src/app.ts], footers: { Rollout-Justification: fixes INC-7 } }',
    '    votes: [{ user: alice, value: 2 }]',
    '    groups: { alice: [sre], bob: [developers] }',
    `    expect: { payments-api-prod: { outcome: ${outcome} } }`,
  ];
  writeFileSync(path.join(dir, 'tests', 'prod.yaml'), ['cases:', ...testCase('an SRE approves <it> & it rolls out', 'allow'), ...testCase('expects a hold that is not one', 'hold')].join('\n'));
  return dir;
}

/**
 * The JUnit file read by a real XML parser (Python's, as a CI's report reader would): the
 * suites with their counts and each testcase with its failure message.
 */
function parseJunit(file: string): unknown {
  const script = [
    'import json, sys, xml.etree.ElementTree as ET',
    'root = ET.parse(sys.argv[1]).getroot()',
    'print(json.dumps({"tag": root.tag, "tests": root.get("tests"), "failures": root.get("failures"), "suites": [',
    '  {"name": s.get("name"), "tests": s.get("tests"), "failures": s.get("failures"), "cases": [',
    '    {"name": c.get("name"), "failure": (c.find("failure").get("message") if c.find("failure") is not None else None)} for c in s.findall("testcase")]}',
    '  for s in root.findall("testsuite")]}))',
  ].join('\n');
  try {
    return JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' }));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('this test reads the JUnit XML with python3, which is not installed (.ci/run installs it)');
    throw err;
  }
}

describe('rollgate policy check --json', () => {
  it('prints one object with the counts for a valid policy, exit 0', async () => {
    const r = await runCli(['policy', 'check', 'policies', '--json']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const report = JSON.parse(r.stdout) as PolicyCheckJson;
    expect(report).toEqual({ ok: true, dir: 'policies', roles: 4, rollouts: 2, workflows: 1, groupRefs: expect.arrayContaining(['role prod-deployer: sre is a group name']) });
    expect(r.stdout.endsWith('}\n')).toBe(true);
  });

  it('lists the problems of an invalid policy in the object, exit 1, nothing on stderr', async () => {
    const dir = tmp();
    cpSync('policies', dir, { recursive: true });
    writeFileSync(path.join(dir, 'roles.yaml'), 'roles: [not, a, map]\n');
    const r = await runCli(['policy', 'check', dir, '--json']);
    expect(r).toMatchObject({ code: 1, stderr: '' });
    const report = JSON.parse(r.stdout) as PolicyCheckJson;
    expect(report.ok).toBe(false);
    if (report.ok) return;
    expect(report.dir).toBe(dir);
    expect(report.problems.some((p) => p.startsWith(`${path.join(dir, 'roles.yaml')}: `))).toBe(true);
  });
});

describe('rollgate policy test --json, --junit', () => {
  it('prints every case with its differences and the counts, and writes JUnit XML a parser reads, exit 1 on a failure', async () => {
    const dir = policyWithTests();
    const junit = path.join(tmp(), 'results.xml');
    const r = await runCli(['policy', 'test', dir, '--json', '--junit', junit]);
    expect(r).toMatchObject({ code: 1, stderr: '' });
    const report = JSON.parse(r.stdout) as PolicyTestJson;
    const file = path.join(dir, 'tests', 'prod.yaml');
    expect(report).toMatchObject({ ok: false, dir, files: 1, passed: 1, failed: 1, broken: 0, problems: [] });
    expect(report.cases).toEqual([
      { file, name: 'an SRE approves <it> & it rolls out', index: 0, passed: true, differences: [] },
      { file, name: 'expects a hold that is not one', index: 1, passed: false, differences: ['payments-api-prod: expected hold, got allow', expect.stringContaining('alice (prod-deployer via sre) approved with Code-Review +2')] },
    ]);
    expect(parseJunit(junit)).toEqual({
      tag: 'testsuites',
      tests: '2',
      failures: '1',
      suites: [
        {
          name: file,
          tests: '2',
          failures: '1',
          cases: [
            { name: 'an SRE approves <it> & it rolls out', failure: null },
            { name: 'expects a hold that is not one', failure: report.cases[1]!.differences[0] },
          ],
        },
      ],
    });
  });

  it('writes the JUnit file beside the usual text output, and exit 0 when every case passes', async () => {
    const junit = path.join(tmp(), 'results.xml');
    const r = await runCli(['policy', 'test', 'policies', '--junit', junit]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/\n\d+ passed, 0 failed \(2 files\)\n$/);
    const parsed = parseJunit(junit) as { failures: string; suites: Array<{ cases: unknown[] }> };
    expect(parsed.failures).toBe('0');
    expect(parsed.suites).toHaveLength(2);
    expect(parsed.suites.flatMap((s) => s.cases)).toHaveLength(Number(/(\d+) passed/.exec(r.stdout)![1]));
  });

  it('reports a missing tests folder as a problem in the object and as an error in the JUnit file', async () => {
    const dir = tmp();
    cpSync('policies', dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}tests`) });
    const junit = path.join(tmp(), 'results.xml');
    const r = await runCli(['policy', 'test', dir, '--json', '--junit', junit]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, files: 0, problems: [`${path.join(dir, 'tests')}: cannot read folder: ENOENT`] });
    expect(readFileSync(junit, 'utf8')).toContain(`<error message="${path.join(dir, 'tests')}: cannot read folder: ENOENT"/>`);
  });
});

describe.each(BACKENDS)('%s: rollgate audit verify --json', (backend) => {
  let database: TestDatabase;
  let env: Record<string, string>;
  let withDb: CliTestDatabase['withDb'];

  beforeAll(async () => {
    ({ database, env, withDb } = await createCliTestDatabase(backend, tmp()));
    await withDb(async (h) => {
      const migrated = await migrateToLatest(h.db);
      if (migrated.error !== undefined) throw migrated.error;
      const audit = new AuditStore(h.db, () => new Date('2026-11-23T10:00:00.000Z'));
      for (let n = 1; n <= 3; n++) await audit.append({ kind: 'decision', actor: 'rollgate', rolloutId: n, project: 'payments/api', changeNumber: 100 + n, summary: `fact ${n}`, data: { n } });
    });
  });
  afterAll(async () => database?.drop());

  it('prints the length and head of an intact trail, and the head it was given, exit 0', async () => {
    const rows = await withDb((h) => h.db.selectFrom('audit_log').select(['id', 'hash']).orderBy('id').execute());
    const r = await runCli(['audit', 'verify', '--json', '--head', `2:${rows[1]!.hash}`], env);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout) as AuditVerifyJson).toEqual({ ok: true, rows: 3, head: { id: 3, hash: rows[2]!.hash }, checkedHead: { id: 2, hash: rows[1]!.hash }, gerrit: null });
  });

  it('names the first broken row, exit 1', async () => {
    await withDb((h) => withAuditTriggerOff(h.db, () => sql`update audit_log set data = jsonb_set(data, '{n}', '42') where id = 2`.execute(h.db)));
    const r = await runCli(['audit', 'verify', '--json'], env);
    expect(r).toMatchObject({ code: 1, stderr: '' });
    expect(JSON.parse(r.stdout) as AuditVerifyJson).toEqual({
      ok: false,
      rows: 1,
      broken: { id: 2, kind: 'decision', at: '2026-11-23T10:00:00.000Z', reason: 'content-changed', message: 'content does not match its hash (changed after it was written)' },
      checkedHead: null,
      gerrit: null,
    });
  });
});
