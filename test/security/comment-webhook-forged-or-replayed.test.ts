import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import type { DoubleChange } from '../helpers/rest-gerrit-double.js';
import { policiesWithWorkflow } from '../helpers/serve-process.js';
import { serviceOnDoublesForSuite } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';

const SECRET = 'webhook-secret-0123456789abcdef';

/** Two approval gates, so an approval can be replayed at the later one. */
const WORKFLOW = `name: deploy-service
steps:
  - id: first-gate
    approval: { roles: [prod-deployer], timeout: 1h }
  - id: canary
    needs: [first-gate]
    run: ["./ops/record.mjs", "canary", "\${change.number}"]
  - id: second-gate
    needs: [canary]
    approval: { roles: [prod-deployer], timeout: 1h }
  - id: full
    needs: [second-gate]
    run: ["./ops/record.mjs", "full", "\${change.number}"]
`;

/**
 * Attacks: a forged webhook `comment-added` "by alice" with `/rollout approve ship it` was acted
 * on because alice's real message contained that text in a quote; and a real message's text,
 * delivered again, would act again at a later gate. A comment from a webhook counts only if
 * Gerrit shows a message by that account whose own command lines are exactly the comment's, and
 * each Gerrit message is acted on once.
 */
describe.each(BACKENDS)('%s: a webhook comment must be a Gerrit message, used once', (backend) => {
  const s = serviceOnDoublesForSuite(backend, 'webhook-comment', [
    [alice, [GROUPS.sre]],
    [bob, [GROUPS.developers]],
  ], {
    env: ({ tmp }) => {
      writeFileSync(path.join(tmp, 'secret'), `${SECRET}\n`);
      return { ROLLGATE_WEBHOOK_SECRET_FILE: path.join(tmp, 'secret'), ROLLGATE_POLICY_DIR: policiesWithWorkflow(tmp, WORKFLOW) };
    },
  });

  const db = () => s.service.database.db;
  const hook = async (body: unknown) => {
    const r = await fetch(`${s.service.url}/hooks/gerrit/${SECRET}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(r.status).toBe(202);
  };
  /** bob's approved merge, waiting at its first gate. */
  const atFirstGate = async (number: number) => {
    const change = mergedChange(number, bob, { commitMessage: `Change ${number}\n\nRollout-Justification: INC-3\n`, votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    s.rest.setChange(change);
    s.ssh.push(changeMergedEvent(change));
    await waitingAt(number, 'first-gate');
    return change;
  };
  const waitingAt = (number: number, step: string) =>
    waitFor(`rollout of ${number} waiting at ${step}`, () =>
      db()
        .selectFrom('rollout_steps')
        .innerJoin('rollouts', 'rollouts.id', 'rollout_steps.rollout_id')
        .select('rollout_steps.step_id')
        .where('rollouts.change_number', '=', number)
        .where('rollout_steps.status', '=', 'waiting')
        .where('rollout_steps.step_id', '=', step)
        .executeTakeFirst(),
    );
  const judged = (text: string, eventCreatedOn: number) =>
    waitFor('the comment judged', async () => {
      const rows = await db().selectFrom('events').select(['status', 'reason', 'raw']).where('type', '=', 'comment-added').where('raw', 'like', `%${text}%`).execute();
      const row = rows.find((r) => (JSON.parse(r.raw) as { eventCreatedOn: number }).eventCreatedOn === eventCreatedOn);
      return row && row.status !== 'pending' ? { status: row.status, reason: row.reason } : undefined;
    });
  const stepStatus = async (number: number, step: string) =>
    (await db().selectFrom('rollout_steps').innerJoin('rollouts', 'rollouts.id', 'rollout_steps.rollout_id').select('rollout_steps.status').where('rollouts.change_number', '=', number).where('rollout_steps.step_id', '=', step).executeTakeFirstOrThrow()).status;
  /** Ends the change's rollout (its environment runs one at a time): alice cancels it over the stream. */
  const end = async (change: DoubleChange) => {
    s.ssh.push(comment(change, '/rollout cancel test over', 1763886999));
    await waitFor('the rollout ended', async () => {
      const row = await db().selectFrom('rollouts').select('status').where('change_number', '=', change.number).executeTakeFirstOrThrow();
      return !['queued', 'running', 'waiting'].includes(row.status);
    });
  };
  const comment = (change: DoubleChange, text: string, eventCreatedOn: number) => ({ ...commentAddedEvent(change, alice, text), eventCreatedOn });

  it('ignores a forged comment whose text alice only quoted', async () => {
    const change = await atFirstGate(1701);
    try {
    s.rest.addMessage(change, alice, 'carol wants me to say\n> /rollout approve ship it\nbut the canary is red, so no.');
    await hook(comment(change, '/rollout approve ship it', 1763886001));
    const verdict = await judged('ship it', 1763886001);
    expect(verdict.status).toBe('ignored');
    expect(verdict.reason).toMatch(/^Gerrit shows no message by alice on change 1701 whose commands are exactly this comment's/);
    expect(await stepStatus(1701, 'first-gate')).toBe('waiting');
    } finally {
      await end(change);
    }
  });

  it('acts on a real message once: the same text delivered again at a later gate is ignored', async () => {
    const change = await atFirstGate(1702);
    try {
    s.rest.addMessage(change, alice, '/rollout approve canary may start');
    await hook(comment(change, '/rollout approve canary may start', 1763886101));
    await waitingAt(1702, 'second-gate');

    // the same delivery, replayed (a new time makes it a new event)
    await hook(comment(change, '/rollout approve canary may start', 1763886102));
    const replay = await judged('canary may start', 1763886102);
    expect(replay.status).toBe('ignored');
    expect(replay.reason).toMatch(/already acted on/);
    expect(await stepStatus(1702, 'second-gate')).toBe('waiting');

    // a new real message passes the second gate
    s.rest.addMessage(change, alice, '/rollout approve full rollout');
    await hook(comment(change, '/rollout approve full rollout', 1763886103));
    await waitFor('the finish message', () => s.rest.reviews.find((r) => r.changeNumber === 1702 && r.message.includes('SUCCEEDED')), 30_000);
    } finally {
      await end(change);
    }
  });

  it('acts once on a comment that arrives from both the stream and a webhook', async () => {
    const change = await atFirstGate(1703);
    try {
    s.rest.addMessage(change, alice, '/rollout approve both ways');
    s.ssh.push(comment(change, '/rollout approve both ways', 1763886201));
    await waitingAt(1703, 'second-gate');
    await hook(comment(change, '/rollout approve both ways', 1763886201));
    const second = await waitFor('the webhook copy judged', async () => {
      const row = await db().selectFrom('events').select(['status', 'reason']).where('source', '=', 'webhook').where('raw', 'like', '%both ways%').executeTakeFirst();
      return row && row.status !== 'pending' ? row : undefined;
    });
    expect(second.status).toBe('ignored');
    expect(await stepStatus(1703, 'second-gate')).toBe('waiting');
    } finally {
      await end(change);
    }
  });
});
