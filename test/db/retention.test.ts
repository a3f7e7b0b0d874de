import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { deleteExpiredRows } from '../../src/db/retention.js';
import { BACKENDS } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { serviceOnDoublesForSuite } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';

const DAY = 24 * 60 * 60 * 1000;

describe.each(BACKENDS)('%s: retention', (backend) => {
  const suite = serviceOnDoublesForSuite(backend, 'retention', [
    [alice, [GROUPS.sre]],
    [bob, [GROUPS.developers]],
  ]);

  const change = mergedChange(401, bob, { commitMessage: 'x\n\nRollout-Justification: y\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
  const started = () => suite.rest.reviews.filter((r) => r.changeNumber === 401 && r.message.includes('STARTED'));

  it('deletes handled events and sent messages older than the retention, and keeps the rest and every rollout', async () => {
    suite.rest.setChange(change);
    suite.ssh.push(changeMergedEvent(change));
    await waitFor('the finish message', () => suite.rest.reviews.find((r) => r.changeNumber === 401 && r.message.includes('SUCCEEDED')), 30_000);
    const db = suite.service.database.db;
    await waitFor('the messages marked sent', async () => (await db.selectFrom('outbox').select('id').where('status', '=', 'pending').execute()).length === 0);
    // a pending and a failed event, and a pending message, all old: they still have work or need a person
    await db.insertInto('events').values([
      { dedup_key: 'old-pending', source: 'stream', type: 'change-merged', raw: '{}', status: 'pending', reason: null, event_created_on: null, processed_at: null },
      { dedup_key: 'old-failed', source: 'stream', type: 'change-merged', raw: '{}', status: 'failed', reason: 'stuck', event_created_on: null, processed_at: null },
    ]).execute();
    await db.insertInto('outbox').values({ message_key: 'old-pending', rollout_id: null, project: 'p', change_number: 1, revision: 'r', tag: 't', message: 'm', status: 'pending', next_attempt_at: sql<Date>`now() + interval '1 day'` }).execute();
    await sql`update events set received_at = now() - interval '40 days'`.execute(db);
    await sql`update outbox set created_at = now() - interval '40 days', sent_at = case when status = 'sent' then now() - interval '40 days' end`.execute(db);
    // the rollout's step printed its output; its attempt ended 40 days ago
    expect((await db.selectFrom('step_output').select('text').execute()).length).toBeGreaterThan(0);
    await sql`update step_attempts set started_at = now() - interval '40 days', finished_at = now() - interval '40 days'`.execute(db);

    expect(await deleteExpiredRows(db, 60 * DAY)).toEqual({ events: 0, outbox: 0, output: 0 });
    const deleted = await deleteExpiredRows(db, 30 * DAY);
    expect(deleted.events).toBeGreaterThan(0);
    expect(deleted.outbox).toBe(2); // the start and finish messages
    expect(deleted.output).toBeGreaterThan(0);
    expect(await db.selectFrom('step_output').select('text').execute()).toEqual([]);
    // what the report quoted, and the record of every attempt, stay
    expect((await db.selectFrom('step_attempts').select('status').execute()).length).toBeGreaterThan(0);

    expect((await db.selectFrom('events').select('dedup_key').orderBy('dedup_key').execute()).map((e) => e.dedup_key)).toEqual(['old-failed', 'old-pending']);
    expect((await db.selectFrom('outbox').select('message_key').execute()).map((m) => m.message_key)).toEqual(['old-pending']);
    expect(await db.selectFrom('rollouts').select(['status']).execute()).toEqual([{ status: 'succeeded' }]);
    await db.deleteFrom('events').where('dedup_key', 'in', ['old-pending', 'old-failed']).execute();
    await db.deleteFrom('outbox').where('message_key', '=', 'old-pending').execute();
  });

  it('does not roll out a merge again when its event line, deleted by retention, arrives once more', async () => {
    expect(started()).toHaveLength(1);
    suite.ssh.push(changeMergedEvent(change));
    const db = suite.service.database.db;
    await waitFor('the repeated event handled', async () => (await db.selectFrom('events').select('status').where('type', '=', 'change-merged').execute()).some((e) => e.status !== 'pending'));
    await new Promise((r) => setTimeout(r, 500));
    expect(await db.selectFrom('rollouts').select(['status']).execute()).toEqual([{ status: 'succeeded' }]);
    expect(started()).toHaveLength(1);
  });
});
