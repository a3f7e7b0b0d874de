import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { alice, bob, carol, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import type { DoubleAccount } from '../helpers/rest-gerrit-double.js';
import { serviceOnDoublesForSuite } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * Attack (issue 11, hole 12): change data PostgreSQL cannot store as text or jsonb (a NUL, a
 * lone surrogate, a `\u0000` escape in JSON) made the event fail on every retry, so the change
 * never rolled out. Whatever Gerrit sends, the event ends handled, the rollout is decided and
 * runs to an end, and its messages go out: nothing stays pending.
 */
const HOSTILE = ['\u0000', 'a\u0000b', '\uD800', 'x\uDFFFy', '\u202Eevil\u202C', '\u200F\u05D0', '{"k":"\\u0000"}', '\\u0000', '\\ud800', 'é\u0301', 'a'.repeat(40_000)];
const hostileText = fc
  .tuple(fc.constantFrom(...HOSTILE), fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom(...HOSTILE))
  .map(([a, b, c]) => `${a}${b}${c}`);
// names are one line: Gerrit does not allow a newline in a name
const hostileName = hostileText.map((s) => s.replace(/[\r\n]/g, ' ').slice(0, 200));

const FINAL = ['denied', 'expired', 'succeeded', 'failed', 'rolled_back', 'superseded', 'cancelled'];

describe.each(BACKENDS)('%s: hostile text in change data is stored, and the change rolls out', (backend) => {
  const s = serviceOnDoublesForSuite(backend, 'storable', [
    [alice, [GROUPS.sre]],
    [bob, [GROUPS.developers]],
    [carol, []],
  ]);
  let nextChange = 9100;

  async function settled(changeNumber: number): Promise<void> {
    const db = s.service.database.db;
    let last: unknown;
    await waitFor(`change ${changeNumber} settled`, async () => {
      const events = await db.selectFrom('events').select(['status', 'reason', 'attempts']).where('raw', 'like', `%"number":${changeNumber},%`).execute();
      const rollouts = await db.selectFrom('rollouts').select('status').where('change_number', '=', changeNumber).execute();
      const outbox = await db.selectFrom('outbox').select('status').where('change_number', '=', changeNumber).execute();
      last = { events, rollouts, outbox };
      return events.length > 0 && events.every((e) => e.status !== 'pending') && rollouts.length > 0 && rollouts.every((r) => FINAL.includes(r.status) || r.status === 'held') && outbox.length > 0 && outbox.every((o) => o.status !== 'pending');
    }, 60_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last)}`);
    });
    const events = await db.selectFrom('events').select(['status', 'reason']).where('raw', 'like', `%"number":${changeNumber},%`).execute();
    expect(events.filter((e) => e.status === 'failed' || e.status === 'pending')).toEqual([]);
    expect(events.some((e) => e.status === 'processed')).toBe(true);
    expect(await db.selectFrom('outbox').select('status').where('change_number', '=', changeNumber).where('status', '!=', 'sent').execute()).toEqual([]);
  }

  it('a merge whose subject, commit message, justification and people carry hostile text is decided, run and reported', async () => {
    await fc.assert(
      fc.asyncProperty(hostileText, hostileText, hostileText, hostileName, async (subject, body, justification, name) => {
        const number = nextChange++;
        const owner: DoubleAccount = { ...bob, name };
        const approver: DoubleAccount = { ...alice, name: `${name} (approver)` };
        const change = mergedChange(number, owner, {
          subject: subject.replace(/[\r\n]/g, ' '),
          commitMessage: `${subject}\n\n${body}\n\nRollout-Justification: ${justification.replace(/[\r\n]/g, ' ')}\nChange-Id: I${'1'.repeat(40)}\n`,
          votes: { 'Code-Review': [{ account: approver, value: 2 }] },
        });
        s.rest.setChange(change);
        s.ssh.push(changeMergedEvent(change, approver));
        await settled(number);
        const rollout = await s.service.database.db.selectFrom('rollouts').select(['decision', 'status']).where('change_number', '=', number).executeTakeFirstOrThrow();
        expect(rollout.decision).toBe('allow');
      }),
      { numRuns: 4, endOnFailure: true },
    );
  }, 600_000);

  it('a review comment with hostile text around its command is taken, and the held change rolls out', async () => {
    await fc.assert(
      fc.asyncProperty(hostileText, hostileText, async (around, justification) => {
        const number = nextChange++;
        const change = mergedChange(number, bob, { subject: `held ${number}`, commitMessage: `held ${number}\n\nChange-Id: I${'2'.repeat(40)}\n` });
        s.rest.setChange(change);
        s.ssh.push(changeMergedEvent(change, bob));
        await waitFor(`change ${number} held`, async () => (await s.service.database.db.selectFrom('rollouts').select('status').where('change_number', '=', number).executeTakeFirst())?.status === 'held', 60_000);
        const text = `${around}\n\n/rollout approve ${justification.replace(/[\r\n]/g, ' ')}\n\n${around}`;
        s.rest.addMessage(change, alice, text);
        s.ssh.push(commentAddedEvent(change, alice, text));
        await waitFor(`change ${number} approved`, async () => (await s.service.database.db.selectFrom('rollouts').select('status').where('change_number', '=', number).executeTakeFirst())?.status !== 'held', 60_000);
        await settled(number);
      }),
      { numRuns: 3, endOnFailure: true },
    );
  }, 600_000);
});
