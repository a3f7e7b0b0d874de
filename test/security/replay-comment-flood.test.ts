import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_COMMANDS_PER_COMMENT } from '../../src/policy/comment-command.js';
import { alice, bob, carol, changeMergedEvent, commentAddedEvent, mergedChange } from '../helpers/change-events.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const FIXTURES = path.resolve('test/fixtures');
const ARGS = ['--dry-run', '--policies', path.join(FIXTURES, 'policies'), '--groups', path.join(FIXTURES, 'replay', 'groups.yaml')];
const tmp = tempDir('rollgate-replay-flood-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const jsonLines = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);

/** A self-approved (so held) merge, then one comment by `who` with `text`. */
function heldThenComment(number: number, who: typeof alice, text: string): string {
  const change = mergedChange(number, bob, { commitMessage: 'Mine\n\nRollout-Justification: trust me\n' });
  const file = path.join(mkdtempSync(path.join(tmp, 'rec-')), 'events.jsonl');
  writeFileSync(file, [{ ...changeMergedEvent(change), eventCreatedOn: 1763884900 }, { ...commentAddedEvent(change, who, text), eventCreatedOn: 1763885000 }].map((e) => JSON.stringify(e)).join('\n'));
  return file;
}

/**
 * Attack: one comment with 400 `/rollout approve` lines made replay print a decision per line,
 * each repeating every earlier reason (7 MB for one comment). Replay answers a comment once, with
 * serve's cap on commands per comment.
 */
describe('rollgate replay of a comment flooded with /rollout approve', () => {
  it('over the cap: acts on none of them, says so once, and prints no decision for the comment', async () => {
    const flood = Array.from({ length: 400 }, (_, i) => `/rollout approve please ${i}`).join('\n');
    const out = await runCli(['replay', heldThenComment(7300, carol, flood), ...ARGS]);
    expect(out.code).toBe(0);
    expect(jsonLines(out.stdout).map((l) => [l.change, l.decision])).toEqual([[7300, 'hold']]);
    expect(out.stdout.length).toBeLessThan(4096);
    expect(out.stderr).toBe(`line 2: change 7300: carol's comment has 400 /rollout commands; at most ${MAX_COMMANDS_PER_COMMENT} are read from one comment, so none of them was acted on\n`);
  });

  it('under the cap: one decision for the comment, and no reason repeated in it', async () => {
    const some = Array.from({ length: MAX_COMMANDS_PER_COMMENT }, (_, i) => `/rollout approve reason ${i % 3}`).join('\n');
    // carol's approval cannot count (no role): as serve, one refusal for the comment and no decision
    const held = await runCli(['replay', heldThenComment(7310, carol, some), ...ARGS]);
    expect(held.code).toBe(0);
    expect(jsonLines(held.stdout).map((l) => [l.change, l.decision])).toEqual([[7310, 'hold']]);
    expect(held.stderr).toBe('line 2: change 7310: carol may not /rollout approve payments-api-prod: that needs role prod-deployer; nothing was changed. Role prod-deployer is given by Gerrit group `sre`.\n');

    const approved = await runCli(['replay', heldThenComment(7320, alice, some), ...ARGS]);
    expect(jsonLines(approved.stdout).map((l) => [l.change, l.decision])).toEqual([
      [7320, 'hold'],
      [7320, 'allow'],
    ]);
    const allow = jsonLines(approved.stdout)[1]!;
    expect(new Set(allow.reasons).size).toBe(allow.reasons.length);
    expect(allow.approvers).toEqual([{ account: 'alice', roles: ['prod-deployer'] }]);
  });
});
