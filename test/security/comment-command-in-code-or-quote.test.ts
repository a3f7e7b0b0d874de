import { describe, expect, it } from 'vitest';
import { parseCommentCommands } from '../../src/policy/comment-command.js';
import { BACKENDS } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { serviceOnDoublesForSuite } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * Attack: a command quoted inside a fenced code block ("do not approve yet, the syntax is: …") or
 * a `>` quote of someone else's comment started a rollout. A command counts only on a line of its
 * own, outside fenced blocks and quotes.
 */
describe('which lines of a comment are commands', () => {
  const kinds = (comment: string) => parseCommentCommands(comment).map((c) => (c.kind === 'invalid' ? 'invalid' : `${c.kind} ${c.text}`.trimEnd()));

  it.each([
    ['a line of its own', '/rollout approve INC-1', ['approve INC-1']],
    ['after Gerrit\'s "Patch Set N:" line', 'Patch Set 2: Code-Review+2\n\n/rollout approve INC-1', ['approve INC-1']],
    ['indented by up to three spaces', '   /rollout deny not now', ['deny not now']],
    ['CRLF line ends', 'hi\r\n/rollout cancel stop\r\n', ['cancel stop']],
    ['inside a sentence', 'please /rollout approve INC-1', []],
    ['in a ``` fenced block', 'do not approve yet, the syntax is:\n```\n/rollout approve <why>\n```', []],
    ['in a ~~~ fenced block', '~~~\n/rollout approve x\n~~~', []],
    ['in a fence with an info string', '```text\n/rollout approve x\n```', []],
    ['in a fence that is never closed', 'see:\n```\n/rollout approve x', []],
    ['in a ~~~ block that a ``` line does not close', '~~~\n```\n/rollout approve x\n~~~', []],
    ['after a fenced block closes', '```\n/rollout approve x\n```\n/rollout approve y', ['approve y']],
    ['in a longer fence a shorter one does not close', '````\n```\n/rollout approve x\n````\n/rollout retry', ['retry']],
    ['on a quoted line', '> /rollout approve ship it', []],
    ['on a nested or indented quote', ' >> /rollout approve ship it\n>/rollout deny no', []],
    ['in an indented code block (four spaces or a tab)', '    /rollout approve x\n\t/rollout approve y', []],
    ['an unknown verb on its own line', '/rollout ship', ['invalid']],
  ])('%s', (_what, comment, expected) => {
    expect(kinds(comment)).toEqual(expected);
  });
});

describe.each(BACKENDS)('%s: a /rollout command inside a code block or a quote does nothing', (backend) => {
  const suite = serviceOnDoublesForSuite(backend, 'command-in-code', [
    [alice, [GROUPS.sre]],
    [bob, [GROUPS.developers]],
  ]);
  const reviewsOf = (change: number) => suite.rest.reviews.filter((r) => r.changeNumber === change).map((r) => r.message);
  const db = () => suite.service.database.db;

  it('leaves the rollout held and posts nothing when a prod-deployer shows the syntax in a fence or quotes it', async () => {
    const change = mergedChange(1401, bob, { votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    suite.rest.setChange(change);
    suite.ssh.push(changeMergedEvent(change));
    await waitFor('the hold message', () => reviewsOf(1401).find((m) => m.includes('ON HOLD')));

    suite.ssh.push(commentAddedEvent(change, alice, 'do not approve yet, the syntax is:\n```\n/rollout approve <why>\n```\nand\n> /rollout approve quoted'));
    const event = await waitFor('the comment handled', () =>
      db().selectFrom('events').select(['status', 'reason']).where('type', '=', 'comment-added').where('raw', 'like', '%"number":1401,%').where('status', '!=', 'pending').executeTakeFirst(),
    );
    expect(event).toEqual({ status: 'ignored', reason: 'no rollout command in the comment' });
    const rollout = await db().selectFrom('rollouts').select(['id', 'status']).where('change_number', '=', 1401).executeTakeFirstOrThrow();
    expect(rollout.status).toBe('held');
    expect(await db().selectFrom('approvals').select('id').where('rollout_id', '=', rollout.id).execute()).toEqual([]);
    expect(reviewsOf(1401).filter((m) => !m.includes('ON HOLD'))).toEqual([]);
  });
});
