import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { alice, carol, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import type { DoubleAccount } from '../helpers/rest-gerrit-double.js';
import { runCli } from '../helpers/run-cli.js';
import { serviceOnDoublesForSuite } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';
import { tempDir } from '../helpers/temp-dir.js';

const FIXTURES = path.resolve('test/fixtures');
const POLICIES = path.join(FIXTURES, 'policies');
const tmp = tempDir('rollgate-replay-approve-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The change's owner, who holds the approving role (prod-deployer via sre) but owns the change. */
const dan: DoubleAccount = { _account_id: 1000004, username: 'dan', name: 'Dan Dev', email: 'dan@example.com' };

const jsonLines = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);

/**
 * dan's merge (no justification footer; the fixture rule requires one and forbids self-approval)
 * is held; then carol (no role) comments "/rollout approve trust me", dan approves his own change,
 * and alice (prod-deployer via sre) approves with a justification.
 */
function recording(number: number) {
  const change = mergedChange(number, dan, { commitMessage: `Change ${number}\n` });
  const events = [
    { ...changeMergedEvent(change), eventCreatedOn: 1763884900 },
    { ...commentAddedEvent(change, carol, '/rollout approve trust me'), eventCreatedOn: 1763885000 },
    { ...commentAddedEvent(change, dan, '/rollout approve my own fix'), eventCreatedOn: 1763885100 },
    { ...commentAddedEvent(change, alice, '/rollout approve INC-42, rollback plan ready'), eventCreatedOn: 1763885200 },
  ];

  const dir = mkdtempSync(path.join(tmp, 'rec-'));
  const file = path.join(dir, 'events.jsonl');
  writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n'));
  const groups = path.join(dir, 'groups.yaml');
  writeFileSync(groups, 'groups:\n  sre: [alice, dan]\n');
  // what Gerrit shows of each comment (serve acts on a stream comment only as the message it stands for)
  const messages: Array<[DoubleAccount, string]> = [
    [carol, '/rollout approve trust me'],
    [dan, '/rollout approve my own fix'],
    [alice, '/rollout approve INC-42, rollback plan ready'],
  ];
  return { change, events, messages, file, groups };
}

const refusalCarol = 'carol may not /rollout approve TARGET: that needs role prod-deployer; nothing was changed. Role prod-deployer is given by Gerrit group `sre`.';
const refusalDan = 'dan may not /rollout approve TARGET: dan owns the change (no self-approval); nothing was changed.';
const allowReasons = ['alice (prod-deployer via sre) approved with /rollout approve', 'justification: INC-42, rollback plan ready'];

/**
 * The attack: serve refuses a `/rollout approve` from someone whose approval cannot count (no role
 * that helps, or the author where self-approval is forbidden) and stores nothing, but
 * `rollgate replay` took every recorded approval into the decision: the refused person showed up
 * in the decision's reasons, each refused comment printed a decision of its own, and replay and
 * serve told different stories about the same events. Replay asks whoMayAct as serve does.
 */
describe('rollgate replay --dry-run of approvals serve would refuse', () => {
  it('refuses them on stderr as serve replies, and decides only on the approval that counts', async () => {
    const r = recording(7400);
    const out = await runCli(['replay', r.file, '--dry-run', '--policies', POLICIES, '--groups', r.groups]);
    expect(out.code).toBe(0);
    const target = (s: string) => s.replace('TARGET', 'payments-api-prod');
    expect(out.stderr).toBe(`line 2: change 7400: ${target(refusalCarol)}\nline 3: change 7400: ${target(refusalDan)}\n`);
    const lines = jsonLines(out.stdout);
    expect(lines.map((l) => [l.change, l.decision])).toEqual([
      [7400, 'hold'],
      [7400, 'allow'],
    ]);
    expect(lines[1]!.approvers).toEqual([{ account: 'alice', roles: ['prod-deployer'] }]);
    expect(lines[1]!.reasons).toEqual(allowReasons);
    expect(lines[1]!.comment).not.toMatch(/trust me|my own fix|carol|dan/);
  });
});

describe.each(BACKENDS)('%s: serve on the same events', (backend) => {
  const s = serviceOnDoublesForSuite(backend, 'replay-approve-serve', [
    [alice, [GROUPS.sre]],
    [dan, [GROUPS.sre]],
    [carol, []],
  ]);

  it('reaches the outcome replay printed: the same refusals, the same approval, the same reasons', async () => {
    const r = recording(7410);
    // what rollgate posted, without the audit line it may end its messages with
    const reviews = () => s.rest.reviews.filter((m) => m.changeNumber === 7410).map((m) => m.message.replace(/\n\nrollgate-audit: \S+$/, ''));
    s.rest.setChange(r.change);
    s.ssh.push(r.events[0]!);
    await waitFor('the hold message', () => reviews().find((m) => m.includes('ON HOLD')));
    const { id } = await s.service.database.db.selectFrom('rollouts').select('id').where('change_number', '=', 7410).executeTakeFirstOrThrow();
    const target = (text: string) => `rollgate: ${text.replace('TARGET', `rollout #${id} (payments-api-prod)`)}`;
    s.rest.addMessage(r.change, ...r.messages[0]!);
    s.ssh.push(r.events[1]!);
    await waitFor('carol refused', () => reviews().includes(target(refusalCarol)));
    s.rest.addMessage(r.change, ...r.messages[1]!);
    s.ssh.push(r.events[2]!);
    await waitFor('dan refused', () => reviews().includes(target(refusalDan)));
    s.rest.addMessage(r.change, ...r.messages[2]!);
    s.ssh.push(r.events[3]!);
    const started = await waitFor('the start message', () => reviews().find((m) => m.includes('STARTED')));
    expect(started).toContain('* alice (prod-deployer via sre) approved with /rollout approve');
    expect(started).toContain('Justification: INC-42, rollback plan ready');
    expect(started).not.toMatch(/trust me|my own fix|carol|dan/);

    const replayed = await runCli(['replay', r.file, '--dry-run', '--policies', POLICIES, '--groups', r.groups]);
    expect(replayed.stderr).toBe(`line 2: change 7410: ${refusalCarol.replace('TARGET', 'payments-api-prod')}\nline 3: change 7410: ${refusalDan.replace('TARGET', 'payments-api-prod')}\n`);
    const decisions = jsonLines(replayed.stdout);
    expect(decisions.map((l) => l.decision)).toEqual(['hold', 'allow']);
    expect(decisions[1]!.comment).toBe(started.replaceAll(`rollout #${id}`, 'dry run'));
    const approvals = await s.service.database.db.selectFrom('approvals').select('username').where('rollout_id', '=', id).execute();
    expect(approvals).toEqual([{ username: 'alice' }]);
  }, 60_000);
});
