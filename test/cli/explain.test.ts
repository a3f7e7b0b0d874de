import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, migrateToLatest } from '../../src/db/database.js';
import { approvalBinding } from '../../src/actions/approval-binding.js';
import { loadPolicy } from '../../src/load-policy.js';
import { ApprovalStore } from '../../src/rollouts/approval-store.js';
import { RolloutStore } from '../../src/rollouts/rollout-store.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, carol, GROUPS, mergedChange } from '../helpers/change-events.js';
import { startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const POLICIES = path.resolve('test/fixtures/policies');

describe('rollgate explain', () => {
  let rest: RestGerritDouble;
  let env: Record<string, string>;

  beforeAll(async () => {
    rest = await startRestGerritDouble();
    rest.addAccount(alice, [GROUPS.sre]);
    rest.addAccount(bob, [GROUPS.developers]);
    rest.addAccount(carol, []);
    const dir = tempDir('rollgate-explain-');
    writeFileSync(path.join(dir, 'pw'), rest.password);
    env = {
      GERRIT_URL: rest.url,
      GERRIT_HTTP_USER: rest.user,
      GERRIT_HTTP_PASSWORD_FILE: path.join(dir, 'pw'),
      ROLLGATE_POLICY_DIR: POLICIES,
      // no database has been created here: explain must not create one
      ROLLGATE_DATA_DIR: path.join(dir, 'no-data-yet'),
    };
    rest.setChange(mergedChange(601, bob, { subject: 'Self approved', commitMessage: 'Self approved\n\nRollout-Justification: trust me\n', votes: { 'Code-Review': [{ account: bob, value: 2 }, { account: carol, value: 2 }] } }));
    rest.setChange(mergedChange(602, bob, { commitMessage: 'Fine\n\nRollout-Justification: fixes INC-7\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } }));
    rest.setChange(mergedChange(603, bob, { project: 'payments/web' }));
    rest.setChange(mergedChange(604, bob, { status: 'NEW', votes: { 'Code-Review': [{ account: alice, value: 2 }] } }));
  });
  afterAll(async () => rest?.close());

  it('explains a hold: the rule, every reason, no approvers', async () => {
    const r = await runCli(['explain', '601'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('change 601 in payments/api (branch main): "Self approved"\n  MERGED, patch set 1 (');
    expect(r.stdout).toContain('owner bob, uploader bob');
    expect(r.stdout).toContain(
      [
        'rule payments-api-prod: HOLD (workflow deploy-service, environment production)',
        '  approvers:',
        '    (none)',
        '  reasons:',
        "    - bob's Code-Review +2 does not count: bob owns the change (no self-approval)",
        "    - carol's Code-Review +2 does not count: carol holds no role; needs one of prod-deployer",
      ].join('\n'),
    );
    expect(r.stdout).toContain('1 missing. A person with role prod-deployer can vote Code-Review +2 or comment "/rollout approve <justification>" on this change.');
    // found by number: rollgate asked Gerrit which project holds change 601
    expect(rest.requests).toContain('GET /a/changes/?q=change%3A601&n=10');
    expect(existsSync(env.ROLLGATE_DATA_DIR!)).toBe(false);
  });

  it('prints one JSON object per rule with --json, approvers with roles and groups', async () => {
    const r = await runCli(['explain', '602', '--project', 'payments/api', '--json'], env);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      change: 602,
      project: 'payments/api',
      branch: 'main',
      status: 'MERGED',
      rule: 'payments-api-prod',
      workflow: 'deploy-service',
      environment: 'production',
      decision: 'allow',
      approvers: [{ account: 'alice', accountId: alice._account_id, via: 'Code-Review +2', roles: ['prod-deployer'], groups: ['sre'] }],
      reasons: [
        { code: 'approved', message: 'alice (prod-deployer via sre) approved with Code-Review +2' },
        { code: 'justification-given', message: 'justification: fixes INC-7' },
      ],
      justification: 'fixes INC-7',
      rollouts: [],
    });
    // --project skips the lookup by number
    expect(rest.requests).not.toContain('GET /a/changes/?q=change%3A602&n=10');
  });

  it('says when no rule matches, and explains an open change as if it merged now', async () => {
    const ignored = await runCli(['explain', '603', '--json'], env);
    expect(ignored.code).toBe(0);
    expect(JSON.parse(ignored.stdout)).toMatchObject({ rule: null, decision: 'ignore', reasons: [{ code: 'no-rule-matches', message: expect.stringContaining('no rollout rule matches payments/web main') }] });
    const open = await runCli(['explain', '604'], env);
    expect(open.code).toBe(0);
    expect(open.stdout).toContain('not merged: this is what rollgate would decide if it merged now');
    expect(open.stdout).toContain('rule payments-api-prod: HOLD');
    expect(open.stdout).toContain('requires a justification');
  });

  it('exits 1 with a message when the change cannot be read', async () => {
    const unknown = await runCli(['explain', '699'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(`change 699: Gerrit at ${rest.url} has no such change, or rollgate cannot see it\n`);
    const wrongProject = await runCli(['explain', '601', '--project', 'nope/nothing'], env);
    expect(wrongProject.code).toBe(1);
    expect(wrongProject.stderr).toMatch(/^change 601: cannot read it from Gerrit: GET \/changes\/nope%2Fnothing~601\?.*: Gerrit answered 404/);
    rest.failNext('/a/changes/', 503);
    const down = await runCli(['explain', '601'], env);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^change 601: cannot read it from Gerrit: .*Gerrit answered 503/);
  });

  it('fails with a clear message when Gerrit REST is not configured, and on a bad command line', async () => {
    const r = await runCli(['explain', '601'], { ROLLGATE_POLICY_DIR: POLICIES });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('rollgate explain reads the change from Gerrit REST, which is not configured: set GERRIT_URL, GERRIT_HTTP_USER and GERRIT_HTTP_PASSWORD_FILE');
    const usage = await runCli(['explain', 'abc'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^rollgate explain: give one change number/);
  });

  describe.each(BACKENDS)('%s: with rollouts in the database', (backend) => {
    let database: TestDatabase;
    let dbEnv: Record<string, string>;

    beforeAll(async () => {
      database = await createTestDatabase(backend);
      const dataDir = tempDir('rollgate-explain-db-');
      dbEnv = { ...env, ...(database.url ? { DATABASE_URL: database.url } : { ROLLGATE_DATA_DIR: dataDir }) };
      const handle = await createDatabase(database.url ? { kind: 'postgres', url: database.url } : { kind: 'pglite', dataDir });
      try {
        const migrated = await migrateToLatest(handle.db);
        if (migrated.error !== undefined) throw migrated.error;
        const change = mergedChange(610, bob, { commitMessage: 'Held\n', votes: { 'Code-Review': [{ account: bob, value: 2 }] } });
        rest.setChange(change);
        const row = await new RolloutStore(handle.db).create({
          rolloutKey: `payments-api-prod:payments/api~610:${change.revision}`,
          rule: 'payments-api-prod',
          workflow: 'deploy-service',
          environment: 'production',
          project: 'payments/api',
          branch: 'main',
          changeNumber: 610,
          patchset: 1,
          revision: change.revision,
          newRev: change.revision,
          subject: change.subject,
          decision: 'hold',
          reasons: [],
          approvers: [],
          justification: undefined,
          stepIds: ['build', 'deploy'],
        });
        // alice approved it by comment: explain counts that as serve does when it decides again
        await new ApprovalStore(handle.db).add({ rolloutId: row!.id, accountId: alice._account_id, username: 'alice', justification: 'hotfix for INC-9', source: 'comment', eventId: null });
        // carol is in no Gerrit group; her role came from her IdP group when she approved through the API
        const viaIdp = mergedChange(611, bob, { commitMessage: 'Held too\n', votes: { 'Code-Review': [{ account: bob, value: 2 }] } });
        rest.setChange(viaIdp);
        const held = await new RolloutStore(handle.db).create({
          rolloutKey: `payments-api-prod:payments/api~611:${viaIdp.revision}`,
          rule: 'payments-api-prod',
          workflow: 'deploy-service',
          environment: 'production',
          project: 'payments/api',
          branch: 'main',
          changeNumber: 611,
          patchset: 1,
          revision: viaIdp.revision,
          newRev: viaIdp.revision,
          subject: viaIdp.subject,
          decision: 'hold',
          reasons: [],
          approvers: [],
          justification: undefined,
          stepIds: ['build', 'deploy'],
        });
        await new ApprovalStore(handle.db).add({ rolloutId: held!.id, accountId: carol._account_id, username: 'carol', justification: 'approved from the web page', source: 'api', eventId: null, idpGrants: [{ role: 'prod-deployer', via: 'idp:oncall' }] });
        // two queued rollouts of one change: one decided under the policy in use, one under another policy version
        const bound = mergedChange(612, bob, { commitMessage: 'Bound\n\nRollout-Justification: INC-12\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
        rest.setChange(bound);
        const policy = loadPolicy(POLICIES);
        const rule = policy.rollouts.find((r) => r.name === 'payments-api-prod')!;
        for (const [key, binding] of [
          ['now', approvalBinding(policy, rule, bound.revision, new Date())],
          ['before', approvalBinding({ ...policy, version: 'f'.repeat(64) }, rule, bound.revision, new Date())],
        ] as const) {
          await new RolloutStore(handle.db).create({
            rolloutKey: `payments-api-prod:payments/api~612:${bound.revision}:${key}`,
            rule: 'payments-api-prod',
            workflow: 'deploy-service',
            environment: 'production',
            project: 'payments/api',
            branch: 'main',
            changeNumber: 612,
            patchset: 1,
            revision: bound.revision,
            newRev: bound.revision,
            subject: bound.subject,
            decision: 'allow',
            reasons: [],
            approvers: [],
            justification: 'INC-12',
            stepIds: [],
            binding,
          });
        }
      } finally {
        await handle.close();
      }
    });
    afterAll(async () => database?.drop());

    it('shows the stored rollouts and counts the /rollout approve given on the held one', async () => {
      const r = await runCli(['explain', '610'], dbEnv);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('rule payments-api-prod: ALLOW');
      expect(r.stdout).toContain('    alice: prod-deployer via group sre, with /rollout approve');
      expect(r.stdout).toContain('    - justification: hotfix for INC-9');
      expect(r.stdout).toMatch(/ {2}rollouts:\n {4}#\d+ held \(decided hold on \d{4}-\d\d-\d\dT.*, patch set 1, [0-9a-f]{12}\)/);
      const json = JSON.parse((await runCli(['explain', '610', '--json'], dbEnv)).stdout) as { rollouts: Array<{ status: string }> };
      expect(json.rollouts.map((x) => x.status)).toEqual(['held']);
    });

    it('counts an API approval with the IdP role its approver held then, as serve does', async () => {
      const r = await runCli(['explain', '611'], dbEnv);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('rule payments-api-prod: ALLOW');
      expect(r.stdout).toContain('    carol: prod-deployer via group idp:oncall, with the rollgate API');
    });

    it('shows the digest each rollout was approved for and whether the policy in use still gives it', async () => {
      const r = await runCli(['explain', '612'], dbEnv);
      expect(r.stderr).toBe('');
      const policy = loadPolicy(POLICIES);
      const rule = policy.rollouts.find((x) => x.name === 'payments-api-prod')!;
      const revision = (await runCli(['explain', '612', '--json'], dbEnv)).stdout;
      const json = JSON.parse(revision) as { revision: string; rollouts: Array<{ approvedFor: { digest: string; policy: string; matchesNow: boolean } }> };
      const now = approvalBinding(policy, rule, json.revision, new Date());
      expect(json.rollouts.map((x) => ({ policy: x.approvedFor.policy, matchesNow: x.approvedFor.matchesNow }))).toEqual([
        { policy: policy.version, matchesNow: true },
        { policy: 'f'.repeat(64), matchesNow: false },
      ]);
      expect(json.rollouts[0]!.approvedFor.digest).toBe(now.digest);
      expect(r.stdout).toContain(`approved for ${now.digest.slice(0, 12)}: still matches)`);
      expect(r.stdout).toMatch(/approved for [0-9a-f]{12}: no longer matches the policy or workflow in use; its start decides again\)/);
    });
  });
});
