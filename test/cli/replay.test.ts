import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, carol, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { startRestGerritDouble, type DoubleAccount, type DoubleChange, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const FIXTURES = path.resolve('test/fixtures');
const GROUPS_FILE = path.join(FIXTURES, 'replay', 'groups.yaml');
const POLICIES = path.join(FIXTURES, 'policies');

/** A review comment carrying a Code-Review vote, as Gerrit streams it. */
function voteEvent(change: DoubleChange, who: DoubleAccount, value: number, at: number, patchSet = change.patchSet): Record<string, unknown> {
  const e = commentAddedEvent(change, who, `Code-Review${value > 0 ? '+' : ''}${value}`) as Record<string, any>;
  return { ...e, patchSet: { ...e.patchSet, number: patchSet }, approvals: [{ type: 'Code-Review', description: 'Code-Review', value: String(value), oldValue: '0' }], eventCreatedOn: at };
}

/** A recorded stream: an approved merge, a self-approved merge approved later by comment, a stale vote, a bad line, an unrelated project. */
function recording(base: number) {
  const approved = mergedChange(base + 1, bob, { commitMessage: 'Fix checkout\n\nRollout-Justification: fixes INC-7\n' });
  const self = mergedChange(base + 2, bob, { commitMessage: 'Mine\n\nRollout-Justification: trust me\n' });
  const stale = mergedChange(base + 3, bob, { patchSet: 2, commitMessage: 'Stale\n\nRollout-Justification: x\n' });
  const other = mergedChange(base + 4, bob, { project: 'payments/web' });
  const lines = [
    JSON.stringify(voteEvent(approved, alice, 2, 1763884850)),
    JSON.stringify({ ...changeMergedEvent(approved), eventCreatedOn: 1763884900 }),
    '{"type":"change-merged","change":',
    JSON.stringify(voteEvent(self, bob, 2, 1763884850)),
    JSON.stringify(voteEvent(self, carol, 2, 1763884851)),
    JSON.stringify({ ...changeMergedEvent(self), eventCreatedOn: 1763884910 }),
    JSON.stringify({ type: 'patchset-created', change: { project: 'x', branch: 'main', number: 1 } }),
    JSON.stringify({ ...commentAddedEvent(self, alice, '/rollout approve hotfix for INC-9'), eventCreatedOn: 1763885000 }),
    JSON.stringify(voteEvent(stale, alice, 2, 1763884850, 1)),
    JSON.stringify(changeMergedEvent(stale)),
    JSON.stringify(changeMergedEvent(other)),
  ];
  const file = path.join(tempDir('rollgate-replay-'), 'events.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return { file, approved, self, stale, other };
}

const jsonLines = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);

describe('rollgate replay --dry-run', () => {
  it('prints one decision per rule and merge, decided from the events, and runs nothing', async () => {
    const r = recording(400);
    const recordDir = tempDir('rollgate-record-');
    const out = await runCli(['replay', r.file, '--dry-run', '--policies', POLICIES, '--groups', GROUPS_FILE], { ROLLGATE_WORK_DIR: FIXTURES, ROLLGATE_STEP_ENV: 'RECORD_DIR', RECORD_DIR: recordDir });
    expect(out.code).toBe(0);
    expect(out.stderr).toBe(`line 3: not JSON: Unexpected end of JSON input\n${r.file}: 1 line skipped\n`);
    const lines = jsonLines(out.stdout);
    expect(lines.map((l) => [l.kind, l.change, l.decision])).toEqual([
      ['decision', 401, 'allow'],
      ['decision', 402, 'hold'],
      ['decision', 402, 'allow'],
      ['decision', 403, 'hold'],
      ['decision', 404, 'ignore'],
    ]);
    expect(lines[0]).toEqual({
      kind: 'decision',
      change: 401,
      project: 'payments/api',
      rule: 'payments-api-prod',
      decision: 'allow',
      approvers: [{ account: 'alice', roles: ['prod-deployer'] }],
      reasons: ['alice (prod-deployer via sre) approved with Code-Review +2', 'justification: fixes INC-7'],
      comment: expect.stringContaining('rollgate: rollout "payments-api-prod" to production STARTED (dry run, workflow deploy-service).'),
    });
    expect(lines[1]!.reasons).toContain("bob's Code-Review +2 does not count: bob owns the change (no self-approval)");
    expect(lines[1]!.reasons).toContain("carol's Code-Review +2 does not count: carol holds no role; needs one of prod-deployer");
    expect(lines[1]!.comment).toMatch(/^rollgate: rollout "payments-api-prod" to production is ON HOLD \(dry run\)\.\n\nWhat is missing:\n\* rule payments-api-prod needs 1 approver/);
    expect(lines[2]!.approvers).toEqual([{ account: 'alice', roles: ['prod-deployer'] }]);
    expect(lines[2]!.reasons).toContain('alice (prod-deployer via sre) approved with /rollout approve');
    // alice voted on patch set 1; patch set 2 merged: her vote does not count
    expect(lines[3]!.approvers).toEqual([]);
    expect(lines[4]).toEqual({ kind: 'decision', change: 404, project: 'payments/web', rule: null, decision: 'ignore', approvers: [], reasons: ['no rollout rule matches payments/web main'], comment: null });
    expect(existsSync(path.join(recordDir, 'calls.jsonl'))).toBe(false);
  });

  it('judges windows at each merge\'s eventCreatedOn, not at replay time', async () => {
    const dir = tempDir('rollgate-replay-policy-');
    mkdirSync(path.join(dir, 'workflows'));
    writeFileSync(path.join(dir, 'roles.yaml'), readFileSync(path.join(POLICIES, 'roles.yaml')));
    writeFileSync(path.join(dir, 'workflows', 'deploy-service.yaml'), readFileSync(path.join(POLICIES, 'workflows', 'deploy-service.yaml')));
    writeFileSync(
      path.join(dir, 'rollouts.yaml'),
      readFileSync(path.join(POLICIES, 'rollouts.yaml'), 'utf8') + '    windows:\n      deny: [{ cron: "* * * * 6,0", tz: UTC, reason: weekend freeze }]\n',
    );
    const change = mergedChange(410, bob, { commitMessage: 'x\n\nRollout-Justification: y\n' });
    const saturday = Date.parse('2025-11-22T10:00:00Z') / 1000;
    const monday = Date.parse('2025-11-24T10:00:00Z') / 1000;
    const file = path.join(dir, 'events.jsonl');
    writeFileSync(file, [voteEvent(change, alice, 2, saturday - 60), { ...changeMergedEvent(change), eventCreatedOn: saturday }, { ...changeMergedEvent({ ...change, number: 411 }), eventCreatedOn: monday }].map((e) => JSON.stringify(e)).join('\n'));
    const out = await runCli(['replay', file, '--dry-run', '--policies', dir, '--groups', GROUPS_FILE]);
    expect(out.code).toBe(0);
    const [sat, mon] = jsonLines(out.stdout);
    expect(sat!.decision).toBe('hold');
    expect(sat!.reasons).toContain('rule payments-api-prod is in a closed window now: weekend freeze. Comment "/rollout approve <justification>" once the window opens (it opens Mon 2025-11-24 00:00 UTC).');
    expect(mon!.change).toBe(411);
  });

  it('decides a held rollout again at the later moment it is approved: a vote older than approval.max_age no longer counts then', async () => {
    const dir = tempDir('rollgate-replay-policy-');
    mkdirSync(path.join(dir, 'workflows'));
    writeFileSync(path.join(dir, 'roles.yaml'), readFileSync(path.join(POLICIES, 'roles.yaml')));
    writeFileSync(path.join(dir, 'workflows', 'deploy-service.yaml'), readFileSync(path.join(POLICIES, 'workflows', 'deploy-service.yaml')));
    writeFileSync(
      path.join(dir, 'rollouts.yaml'),
      readFileSync(path.join(POLICIES, 'rollouts.yaml'), 'utf8').replace('min_approvers: 1', 'min_approvers: 2\n      max_age: 1h'),
    );
    const groups = path.join(dir, 'groups.yaml');
    writeFileSync(groups, 'groups:\n  sre: [alice, erin]\n  developers: [bob]\n');
    const erin: DoubleAccount = { _account_id: 1000005, username: 'erin', name: 'Erin SRE', email: 'erin@example.com' };
    const merged = Date.parse('2025-11-24T10:00:00Z') / 1000;
    const soon = mergedChange(450, bob, { commitMessage: 'x\n\nRollout-Justification: y\n' });
    const late = mergedChange(451, bob, { commitMessage: 'x\n\nRollout-Justification: y\n' });
    const file = path.join(dir, 'events.jsonl');
    const events = [
      voteEvent(soon, alice, 2, merged - 60),
      { ...changeMergedEvent(soon), eventCreatedOn: merged },
      { ...commentAddedEvent(soon, erin, '/rollout approve second pair of eyes'), eventCreatedOn: merged + 30 * 60 },
      voteEvent(late, alice, 2, merged - 60),
      { ...changeMergedEvent(late), eventCreatedOn: merged },
      { ...commentAddedEvent(late, erin, '/rollout approve second pair of eyes'), eventCreatedOn: merged + 2 * 3600 },
    ];
    writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n'));
    const out = await runCli(['replay', file, '--dry-run', '--policies', dir, '--groups', groups]);
    expect(out.code).toBe(0);
    const lines = jsonLines(out.stdout);
    expect(lines.map((l) => [l.change, l.decision])).toEqual([
      [450, 'hold'],
      [450, 'allow'],
      [451, 'hold'],
      [451, 'hold'],
    ]);
    expect(lines[3]!.reasons).toContain("alice's Code-Review +2 is older than approval.max_age 1h (counted since 2025-11-24T10:00:00.000Z): it no longer counts");
  });

  it('replays /rollout deny from a role holder as a deny decision, refuses it from anyone else, and says why a footer selects no rule', async () => {
    const held = mergedChange(440, bob, { commitMessage: 'Mine\n\nRollout-Justification: trust me\n' });
    const typo = mergedChange(441, bob, { commitMessage: 'Typo\n\nRollout: payments-api-prd\n' });
    const lines = [
      voteEvent(held, bob, 2, 1763884850),
      { ...changeMergedEvent(held), eventCreatedOn: 1763884900 },
      { ...commentAddedEvent(held, carol, '/rollout deny I do not like it'), eventCreatedOn: 1763884950 },
      { ...commentAddedEvent(held, alice, '/rollout deny not while INC-12 is open'), eventCreatedOn: 1763885000 },
      // denied is final: a later approval finds nothing held
      { ...commentAddedEvent(held, alice, '/rollout approve changed my mind'), eventCreatedOn: 1763885100 },
      changeMergedEvent(typo),
    ];
    const file = path.join(tempDir('rollgate-replay-deny-'), 'events.jsonl');
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
    const out = await runCli(['replay', file, '--dry-run', '--policies', POLICIES, '--groups', GROUPS_FILE]);
    expect(out.code).toBe(0);
    expect(out.stderr).toBe('line 3: change 440: carol may not /rollout deny payments-api-prod: that needs role prod-deployer; nothing was changed. Role prod-deployer is given by Gerrit group `sre`.\n');
    const [hold, deny, ignore, ...rest] = jsonLines(out.stdout);
    expect(rest).toEqual([]);
    expect(hold).toMatchObject({ change: 440, decision: 'hold' });
    expect(deny).toEqual({
      kind: 'decision',
      change: 440,
      project: 'payments/api',
      rule: 'payments-api-prod',
      decision: 'deny',
      approvers: [],
      reasons: ['denied by alice: not while INC-12 is open'],
      comment: 'rollgate: rollout "payments-api-prod" to production is DENIED (dry run).\n\nWhy:\n* denied by alice: not while INC-12 is open',
    });
    expect(ignore).toMatchObject({ change: 441, decision: 'ignore', reasons: ['the "Rollout: payments-api-prd" footer names rule payments-api-prd, which does not exist (rules: payments-api-prod); nothing rolls out'] });
  });

  it('decides a held rollout again on a vote after the merge, as serve does: one that counts starts it, one that cannot is no decision', async () => {
    const held = mergedChange(450, bob, { commitMessage: 'Mine\n\nRollout-Justification: pool exhaustion\n' });
    const lines = [
      voteEvent(held, bob, 2, 1763884850),
      { ...changeMergedEvent(held), eventCreatedOn: 1763884900 },
      voteEvent(held, carol, 2, 1763884950),
      voteEvent(held, alice, 2, 1763885000),
    ];
    const file = path.join(tempDir('rollgate-replay-vote-'), 'events.jsonl');
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
    const out = await runCli(['replay', file, '--dry-run', '--policies', POLICIES, '--groups', GROUPS_FILE]);
    expect(out.code).toBe(0);
    expect(out.stderr).toBe('');
    const decided = jsonLines(out.stdout);
    expect(decided.map((l) => [l.change, l.decision])).toEqual([
      [450, 'hold'],
      [450, 'allow'],
    ]);
    expect(decided[1]!.approvers).toEqual([{ account: 'alice', roles: ['prod-deployer'] }]);
    expect(decided[1]!.reasons).toContain('alice (prod-deployer via sre) approved with Code-Review +2');
  });

  it('exits 1 with line N: problem when no line of the file is an event, and when the file cannot be read', async () => {
    const dir = tempDir('rollgate-replay-bad-');
    const file = path.join(dir, 'not-events.jsonl');
    writeFileSync(file, 'hello\n{"type":"change-merged"}\n');
    const bad = await runCli(['replay', file, '--dry-run', '--policies', POLICIES, '--groups', GROUPS_FILE]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^line 1: not JSON: .*\nline 2: change-merged event: change: .*\n.*not-events\.jsonl: no readable event in 2 lines\n$/);
    const missing = await runCli(['replay', path.join(dir, 'nope.jsonl'), '--dry-run', '--policies', POLICIES, '--groups', GROUPS_FILE]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`${path.join(dir, 'nope.jsonl')}: cannot read: ENOENT\n`);
  });

  it('says where group membership can come from when there is neither --groups nor Gerrit REST', async () => {
    const r = recording(420);
    const out = await runCli(['replay', r.file, '--dry-run', '--policies', POLICIES]);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('rollgate replay needs group membership: give --groups FILE');
  });

  it('reports a malformed groups file as file: path (line N): problem', async () => {
    const r = recording(425);
    const groups = path.join(path.dirname(r.file), 'groups.yaml');
    writeFileSync(groups, 'groups:\n  sre: alice\n');
    const out = await runCli(['replay', r.file, '--dry-run', '--policies', POLICIES, '--groups', groups]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(new RegExp(`groups\\.yaml: groups\\.sre \\(line 2\\): .*array`));
  });

  describe('without --groups, groups come from Gerrit REST', () => {
    let rest: RestGerritDouble;
    let env: Record<string, string>;
    beforeAll(async () => {
      rest = await startRestGerritDouble();
      rest.addAccount(alice, [GROUPS.sre]);
      rest.addAccount(bob, [GROUPS.developers]);
      rest.addAccount(carol, []);
      const dir = tempDir('rollgate-replay-rest-');
      writeFileSync(path.join(dir, 'pw'), rest.password);
      env = { GERRIT_URL: rest.url, GERRIT_HTTP_USER: rest.user, GERRIT_HTTP_PASSWORD_FILE: path.join(dir, 'pw') };
    });
    afterAll(async () => rest?.close());

    it('looks each voter up by username and decides with their Gerrit groups', async () => {
      const r = recording(430);
      const out = await runCli(['replay', r.file, '--dry-run', '--policies', POLICIES], env);
      expect(out.code).toBe(0);
      expect(jsonLines(out.stdout).map((l) => [l.change, l.decision])).toEqual([
        [431, 'allow'],
        [432, 'hold'],
        [432, 'allow'],
        [433, 'hold'],
        [434, 'ignore'],
      ]);
      expect(rest.requests).toContain('GET /a/accounts/alice');
      expect(rest.requests).toContain(`GET /a/accounts/${alice._account_id}/groups`);
      // a dry run posts nothing
      expect(rest.reviews).toEqual([]);
    });
  });
});

describe.each(BACKENDS)('%s: rollgate replay (rollouts run)', (backend) => {
  let rest: RestGerritDouble;
  let database: TestDatabase;
  let env: Record<string, string>;
  let recordDir: string;

  beforeAll(async () => {
    rest = await startRestGerritDouble();
    database = await createTestDatabase(backend);
    const dir = tempDir('rollgate-replay-run-');
    recordDir = path.join(dir, 'record');
    mkdirSync(recordDir);
    writeFileSync(path.join(dir, 'pw'), rest.password);
    env = {
      ...(database.url ? { DATABASE_URL: database.url } : { ROLLGATE_DATA_DIR: path.join(dir, 'data') }),
      ROLLGATE_WORK_DIR: FIXTURES,
      ROLLGATE_STEP_ENV: 'RECORD_DIR',
      RECORD_DIR: recordDir,
      GERRIT_URL: rest.url,
      GERRIT_HTTP_USER: rest.user,
      GERRIT_HTTP_PASSWORD_FILE: path.join(dir, 'pw'),
    };
  });
  afterAll(async () => {
    await rest?.close();
    await database?.drop();
  });

  const calls = () =>
    existsSync(path.join(recordDir, 'calls.jsonl')) ? readFileSync(path.join(recordDir, 'calls.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { args: string[]; step: string }) : [];

  it('runs the allowed rollouts as real processes, prints each when it ends, and posts the review messages', async () => {
    const r = recording(500);
    for (const c of [r.approved, r.self, r.stale, r.other]) rest.setChange(c);
    const out = await runCli(['replay', r.file, '--policies', POLICIES, '--groups', GROUPS_FILE], env);
    expect(out.stderr).toBe(`line 3: not JSON: Unexpected end of JSON input\n${r.file}: 1 line skipped\n`);
    expect(out.code).toBe(0);
    const lines = jsonLines(out.stdout);
    const decisions = lines.filter((l) => l.kind === 'decision');
    expect(decisions.map((l) => [l.change, l.decision])).toEqual([
      [501, 'allow'],
      [502, 'hold'],
      [502, 'allow'],
      [503, 'hold'],
      [504, 'ignore'],
    ]);
    expect(decisions[0]!.comment).toMatch(/STARTED \(rollout #\d+, workflow deploy-service\)/);
    const rollouts = lines.filter((l) => l.kind === 'rollout').sort((a, b) => a.change - b.change);
    const ok = [
      { id: 'build', status: 'succeeded', attempts: 1 },
      { id: 'deploy', status: 'succeeded', attempts: 1 },
    ];
    expect(rollouts).toEqual([
      { kind: 'rollout', change: 501, rule: 'payments-api-prod', status: 'succeeded', steps: ok },
      { kind: 'rollout', change: 502, rule: 'payments-api-prod', status: 'succeeded', steps: ok },
    ]);
    // the real step programs ran, with the change's values as argv
    expect(calls().map((c) => [c.step, c.args[0], c.args.at(-1)])).toEqual(
      expect.arrayContaining([
        ['build', 'build', 'Change 501'],
        ['deploy', 'deploy', '501'],
        ['build', 'build', 'Change 502'],
        ['deploy', 'deploy', '502'],
      ]),
    );
    expect(calls()).toHaveLength(4);
    // and the reporter posted the messages on the merged revisions
    const messages = (n: number) => rest.reviews.filter((m) => m.changeNumber === n).map((m) => m.message.split('\n')[0]);
    expect(messages(501)).toEqual([expect.stringMatching(/STARTED/), expect.stringMatching(/SUCCEEDED/)]);
    expect(messages(502)).toEqual([expect.stringMatching(/ON HOLD/), expect.stringMatching(/STARTED/), expect.stringMatching(/SUCCEEDED/)]);
    expect(messages(503)).toEqual([expect.stringMatching(/ON HOLD/)]);

    // the same recording again: the first replay's intake stored every event, so nothing is decided or run twice
    const again = await runCli(['replay', r.file, '--policies', POLICIES, '--groups', GROUPS_FILE], env);
    expect(again.code).toBe(0);
    expect(jsonLines(again.stdout)).toEqual([]);
    expect(again.stderr).toContain('line 2: rollgate received this event before; its votes and approvals count, but it is not decided again\n');
    expect(calls()).toHaveLength(4);
  }, 90_000);
});
