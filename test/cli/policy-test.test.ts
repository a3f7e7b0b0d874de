import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A copy of the shipped policies with the given test files instead of the shipped tests. */
function policyWithTests(tests: Record<string, string>): string {
  const dir = tempDir('rollgate-policy-test-');
  cpSync('policies', dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}tests`) });
  mkdirSync(path.join(dir, 'tests'));
  for (const [name, text] of Object.entries(tests)) writeFileSync(path.join(dir, 'tests', name), text);
  return dir;
}

describe('rollgate policy test', () => {
  it('passes the tests shipped for the example policies', async () => {
    const r = await runCli(['policy', 'test', 'policies']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('PASS ')).length).toBeGreaterThanOrEqual(4);
    expect(lines.some((l) => l.startsWith('FAIL '))).toBe(false);
    expect(r.stdout).toContain('PASS policies/tests/payments-api-prod.yaml: an SRE approving their own change is held (no self-approval)');
    expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed \(2 files\)$/);
  });

  it('reads the policy folder from ROLLGATE_POLICY_DIR when none is given', async () => {
    const r = await runCli(['policy', 'test'], { ROLLGATE_POLICY_DIR: 'policies' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/passed, 0 failed/);
  });

  it('prints FAIL with the difference and exits 1 when a decision is not the expected one', async () => {
    const dir = policyWithTests({
      'wrong.yaml': `cases:
  - name: self-approval wrongly expected to pass
    change: { project: payments/api, owner: alice, footers: { Rollout-Justification: mine } }
    votes: [{ user: alice, value: 2 }]
    groups: { alice: [sre] }
    expect:
      payments-api-prod: { outcome: allow }
  - name: a reason that is not there
    change: { project: payments/api, owner: bob, footers: { Rollout-Justification: ok } }
    votes: [{ user: alice, value: 2 }]
    groups: { alice: [sre] }
    expect:
      payments-api-prod: { outcome: allow, reasons: ["approved by the moon"] }
  - name: a rule expected that does not match
    change: { project: other/thing, owner: bob }
    expect:
      payments-api-prod: { outcome: hold }
  - name: ignored as expected
    change: { project: other/thing, owner: bob }
    expect: {}
`,
    });
    const r = await runCli(['policy', 'test', dir]);
    expect(r.code).toBe(1);
    const file = path.join(dir, 'tests', 'wrong.yaml');
    expect(r.stdout).toContain(
      `FAIL ${file}: self-approval wrongly expected to pass (cases[0])\n  payments-api-prod: expected allow, got hold\n  payments-api-prod reasons:\n    - alice's Code-Review +2 does not count: alice owns the change (no self-approval)`,
    );
    expect(r.stdout).toContain(`FAIL ${file}: a reason that is not there (cases[1])\n  payments-api-prod: no reason contains "approved by the moon"\n  payments-api-prod reasons:\n    - alice (prod-deployer via sre) approved with Code-Review +2`);
    expect(r.stdout).toContain('payments-api-prod: expected hold, but the rule does not match this change (no rollout rule matches other/thing main)');
    expect(r.stdout).toContain(`PASS ${file}: ignored as expected`);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('1 passed, 3 failed (1 file)');
  });

  it('reports a malformed test file as file: path (line N): problem and exits 1', async () => {
    const dir = policyWithTests({
      'bad.yaml': `cases:
  - name: typo in a key
    change: { project: payments/api, owner: bob }
    vots: [{ user: alice, value: 2 }]
    expect:
      payments-api-prod: { outcome: maybe }
`,
      'syntax.yaml': 'cases: [\n',
    });
    const r = await runCli(['policy', 'test', dir]);
    expect(r.code).toBe(1);
    const bad = path.join(dir, 'tests', 'bad.yaml');
    expect(r.stderr).toContain(`${bad}: cases[0].vots (line 4): unknown key`);
    expect(r.stderr).toMatch(new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cases\\[0\\]\\.expect\\.payments-api-prod\\.outcome \\(line 6\\): .*"allow"`));
    expect(r.stderr).toMatch(/syntax\.yaml: line \d+: /);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('0 passed, 0 failed, 2 files unreadable (2 files)');
  });

  it('checks the start too: start_at and groups_at_start decide again, and a wrong expectation at the start fails', async () => {
    const dir = policyWithTests({
      'start.yaml': `cases:
  - name: alice still in sre at the start
    change: { project: payments/api, owner: bob, footers: { Rollout-Justification: ok } }
    votes: [{ user: alice, value: 2 }]
    groups: { alice: [sre] }
    expect: { payments-api-prod: { outcome: allow } }
    start_at: 2026-01-08T09:00:00Z
    expect_at_start: { payments-api-prod: { outcome: allow } }
  - name: wrongly expects alice to count after she left sre
    change: { project: payments/api, owner: bob, footers: { Rollout-Justification: ok } }
    votes: [{ user: alice, value: 2 }]
    groups: { alice: [sre] }
    expect: { payments-api-prod: { outcome: allow } }
    groups_at_start: { alice: [developers] }
    expect_at_start: { payments-api-prod: { outcome: allow } }
  - name: a held rollout does not start
    change: { project: payments/api, owner: bob }
    votes: [{ user: alice, value: 2 }]
    groups: { alice: [sre] }
    expect: { payments-api-prod: { outcome: hold } }
    start_at: 2026-01-08T09:00:00Z
    expect_at_start: { payments-api-prod: { outcome: allow } }
  - name: start_at without what to expect
    change: { project: payments/api, owner: bob }
    expect: { payments-api-prod: { outcome: hold } }
    start_at: 2026-01-08T09:00:00Z
`,
    });
    const r = await runCli(['policy', 'test', dir]);
    expect(r.code).toBe(1);
    const file = path.join(dir, 'tests', 'start.yaml');
    // the last case makes the file unreadable; fix it and the others run
    expect(r.stderr).toContain(`${file}: cases[3].start_at (line 26): start_at needs expect_at_start (what the check at the start decides)`);
    writeFileSync(file, (await import('node:fs')).readFileSync(file, 'utf8').split('  - name: start_at without')[0]!);
    const run = await runCli(['policy', 'test', dir]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`PASS ${file}: alice still in sre at the start`);
    expect(run.stdout).toContain(
      `FAIL ${file}: wrongly expects alice to count after she left sre (cases[1])\n  payments-api-prod: expected allow at the start, got hold\n  payments-api-prod at the start reasons:\n    - alice no longer has prod-deployer (had it via sre when the rollout was decided)`,
    );
    expect(run.stdout).toContain(`FAIL ${file}: a held rollout does not start (cases[2])\n  payments-api-prod: expected allow at the start, but it does not start (allowed at the merge: none of payments-api-prod (hold at the merge, so it does not start))`);
    expect(run.stdout.trim().split('\n').at(-1)).toBe('1 passed, 2 failed (1 file)');
  });

  it('says so when the policy has no tests folder', async () => {
    const dir = tempDir('rollgate-policy-test-');
    cpSync('policies', dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}tests`) });
    const r = await runCli(['policy', 'test', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${path.join(dir, 'tests')}: cannot read folder: ENOENT\n`);
  });
});
