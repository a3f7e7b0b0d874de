import { describe, expect, it } from 'vitest';
import { MAX_COMMANDS_PER_COMMENT } from '../../src/policy/comment-command.js';
import { BACKENDS } from '../helpers/backends.js';
import { alice, bob, carol, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { serviceOnDoublesForSuite } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * Attack: 400 `/rollout approve` lines in one comment from someone without a role gave 400 review
 * messages and 400 audit rows. One comment gets at most one reply, answering all its commands, and
 * a comment with more than MAX_COMMANDS_PER_COMMENT commands is answered once and not acted on.
 */
describe.each(BACKENDS)('%s: one comment, one reply', (backend) => {
  const suite = serviceOnDoublesForSuite(backend, 'comment-flood', [
    [alice, [GROUPS.sre]],
    [bob, [GROUPS.developers]],
    [carol, []],
  ]);
  const db = () => suite.service.database.db;
  const outboxOf = (change: number) => db().selectFrom('outbox').select(['message', 'status']).where('change_number', '=', change).orderBy('id').execute();
  const auditRowsOf = async (change: number) => (await db().selectFrom('audit_log').select('kind').where('change_number', '=', change).execute()).filter((r) => r.kind === 'command');

  /** bob's merge with alice's +2 and no justification: held. Returns once its hold message is posted. */
  const held = async (number: number) => {
    const change = mergedChange(number, bob, { votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    suite.rest.setChange(change);
    suite.ssh.push(changeMergedEvent(change));
    await waitFor('the hold message', () => suite.rest.reviews.find((r) => r.changeNumber === number && r.message.includes('ON HOLD')));
    return change;
  };
  const handled = (number: number) =>
    waitFor('the comment handled', () =>
      db().selectFrom('events').select(['status', 'reason']).where('type', '=', 'comment-added').where('raw', 'like', `%"number":${number},%`).where('status', '!=', 'pending').executeTakeFirst(),
    );
  /** The change's messages once the reply is posted and no more are pending. */
  const settled = async (number: number) => {
    await waitFor('the messages posted', async () => {
      const rows = await outboxOf(number);
      return rows.length >= 2 && rows.every((r) => r.status === 'sent') ? rows : undefined;
    }, 60_000);
    // nothing more comes after a short while
    await new Promise((r) => setTimeout(r, 500));
    return outboxOf(number);
  };

  it('answers 400 approve lines from someone without a role once, saying there are too many, and acts on none', { timeout: 90_000 }, async () => {
    const change = await held(1501);
    const flood = Array.from({ length: 400 }, (_, i) => `/rollout approve please ${i}`).join('\n');
    suite.ssh.push(commentAddedEvent(change, carol, flood));
    await handled(1501);
    const rows = await settled(1501);
    expect(rows).toHaveLength(2);
    expect(rows.map((r) => r.message.split('\n')[0])).toEqual([expect.stringContaining('ON HOLD'), expect.stringContaining('rollgate: ')]);
    // (the reply's first paragraph: rollgate may add its audit head after it)
    expect(rows[1]!.message.split('\n\n')[0]).toBe(`rollgate: carol's comment has 400 /rollout commands; at most ${MAX_COMMANDS_PER_COMMENT} are read from one comment, so none of them was acted on. Give each command on a line of its own, in as few comments as you need.`);
    expect(await auditRowsOf(1501)).toEqual([]);
    expect((await db().selectFrom('rollouts').select('status').where('change_number', '=', 1501).executeTakeFirstOrThrow()).status).toBe('held');
  });

  it('answers a few commands from someone without a role in one reply, with one audit row per command', async () => {
    const change = await held(1502);
    suite.ssh.push(commentAddedEvent(change, carol, '/rollout approve one\n/rollout approve two\n/rollout deny three\n/rollout ship\n/rollout approve one'));
    await handled(1502);
    const rows = await settled(1502);
    expect(rows).toHaveLength(2);
    const reply = rows[1]!.message;
    expect(reply.startsWith('rollgate: ')).toBe(true);
    expect(reply).toContain('unknown command "/rollout ship"');
    expect(reply.match(/carol may not \/rollout approve/g)).toHaveLength(1);
    expect(reply.match(/carol may not \/rollout deny/g)).toHaveLength(1);
    // the repeated "/rollout approve one" is one command
    expect((await auditRowsOf(1502)).length).toBe(3);
  });
});
