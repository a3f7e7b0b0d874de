import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import type { DoubleChange } from '../helpers/rest-gerrit-double.js';
import { serviceOnDoublesForSuite } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';

const SECRET = 'webhook-secret-0123456789abcdef';

/**
 * Attack: a `change-merged` POSTed to the webhook before the real merge, with the real
 * patchSet.revision and a made-up newRev, ran the rollout with the made-up revision in
 * ROLLGATE_NEW_REV and argv, and the real stream event was then dropped as a duplicate. What a
 * rollout runs comes from Gerrit REST; a hint never shadows the real event.
 */
describe.each(BACKENDS)('%s: a webhook does not choose the deployed revision', (backend) => {
  const s = serviceOnDoublesForSuite(backend, 'webhook-revision', [
    [alice, [GROUPS.sre]],
    [bob, [GROUPS.developers]],
  ], {
    env: ({ tmp }) => {
      writeFileSync(path.join(tmp, 'secret'), `${SECRET}\n`);
      return { ROLLGATE_WEBHOOK_SECRET_FILE: path.join(tmp, 'secret') };
    },
  });

  const db = () => s.service.database.db;
  const hook = (body: unknown) => fetch(`${s.service.url}/hooks/gerrit/${SECRET}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const buildArgs = () =>
    existsSync(path.join(s.recordDir, 'calls.jsonl'))
      ? readFileSync(path.join(s.recordDir, 'calls.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { args: string[] }).filter((c) => c.args[0] === 'build').map((c) => c.args)
      : [];
  const approved = (number: number, patch: Partial<DoubleChange> = {}) =>
    mergedChange(number, bob, { commitMessage: `Change ${number}\n\nRollout-Justification: INC-9\n`, votes: { 'Code-Review': [{ account: alice, value: 2 }] }, ...patch });
  const finished = (number: number) => waitFor('the finish message', () => s.rest.reviews.find((r) => r.changeNumber === number && r.message.includes('SUCCEEDED')), 30_000);
  const mergedEvents = (number: number) =>
    db().selectFrom('events').select(['source', 'status']).where('type', '=', 'change-merged').where('raw', 'like', `%"number":${number},%`).orderBy('id').execute();

  it('runs the REST revision when a forged webhook with a made-up newRev comes before the real merge, and keeps the real event', async () => {
    const change = approved(1601);
    const forgedRev = 'f'.repeat(40);
    s.rest.setChange({ ...change, status: 'NEW' });
    const forged = await hook({ ...changeMergedEvent(change), newRev: forgedRev, eventCreatedOn: 1 });
    expect(forged.status).toBe(202);
    await waitFor('the forged event tried', async () => (await mergedEvents(1601)).find((e) => e.source === 'webhook'));

    s.rest.setChange(change);
    s.ssh.push(changeMergedEvent(change));
    await finished(1601);

    const rollouts = await db().selectFrom('rollouts').select(['revision', 'new_rev']).where('change_number', '=', 1601).execute();
    expect(rollouts).toEqual([{ revision: change.revision, new_rev: change.revision }]);
    const build = buildArgs().find((a) => a.includes('Change 1601'));
    expect(build).toEqual(['build', 'payments/api', change.revision, 'Change 1601']);
    expect(JSON.stringify(buildArgs())).not.toContain(forgedRev);
    // the real event is stored and handled, not dropped as a duplicate of the forgery
    await waitFor('the stream event handled', async () => (await mergedEvents(1601)).find((e) => e.source === 'stream' && e.status === 'processed'));
  });

  it('takes a newRev only when REST shows it is the merge of the change into its branch', async () => {
    // a merge-always submit: the branch commit is a merge whose second parent is the patch set
    const change = approved(1602);
    const mergeCommit = '2'.repeat(40);
    s.rest.addCommit(change.project, { sha: mergeCommit, parents: ['1'.repeat(40), change.revision], branches: [change.branch] });
    s.rest.setChange(change);
    s.ssh.push({ ...changeMergedEvent(change), newRev: mergeCommit });
    await finished(1602);
    expect(await db().selectFrom('rollouts').select(['revision', 'new_rev']).where('change_number', '=', 1602).execute()).toEqual([{ revision: change.revision, new_rev: mergeCommit }]);

    // a later merge of another change has this change's commit as its FIRST parent: it is not this change's merge
    const other = approved(1603);
    const laterMerge = '3'.repeat(40);
    s.rest.addCommit(other.project, { sha: laterMerge, parents: [other.revision, '4'.repeat(40)], branches: [other.branch] });
    s.rest.setChange(other);
    await hook({ ...changeMergedEvent(other), newRev: laterMerge });
    await finished(1603);
    expect(await db().selectFrom('rollouts').select(['revision', 'new_rev']).where('change_number', '=', 1603).execute()).toEqual([{ revision: other.revision, new_rev: other.revision }]);
    expect(JSON.stringify(buildArgs())).not.toContain(laterMerge);
  });
});
