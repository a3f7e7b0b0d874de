import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../src/db/database.js';
import type { Actor } from '../../src/policy/who-may-act.js';
import { approveGate, cancelRollout, retryRollout, rollbackRollout } from '../../src/actions/operations.js';
import { BACKENDS, openTestDatabase } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';
import { Engine, policy, queueRollout, rule, run, workflow } from '../execute/engine-harness.js';

const alice: Actor = { accountId: 1000001, username: 'alice', roles: ['prod-deployer'], relation: 'other' };

describe.each(BACKENDS)('%s: operator operations', (backend) => {
  let handle: DatabaseHandle;
  let cleanup: () => Promise<void>;
  let engine: Engine | undefined;

  beforeAll(async () => {
    ({ handle, cleanup } = await openTestDatabase(backend));
  });
  afterAll(async () => {
    await cleanup();
  });
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  const started = (name: string) => engine!.calls().filter((c) => c.event === 'start' && c.name === name);
  const statusIs = (id: number, status: string) => async () => (await engine!.status(id)) === status;

  it('cancel stops the running step, rolls back what was done, and says who and why', async () => {
    const wf = workflow({
      name: 'cancel-me',
      steps: [
        { id: 'prepare', run: run('prepare'), undo: { run: run('unprepare') } },
        { id: 'deploy', needs: ['prepare'], run: run('deploy', { sleep: 60_000 }) },
      ],
      rollback: [{ id: 'notify', run: run('notify') }],
    });
    const r = rule('cancel-me', 'cancel-me', 'cancel-env');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start();
    await waitFor('deploy to start', () => started('deploy').length === 1);
    expect(await cancelRollout(engine.operations(), rollout.id, alice, 'wrong build')).toEqual({ ok: true, message: `rollgate: rollout #${rollout.id} is being stopped; its rollback runs next.` });
    await waitFor('the rollback', statusIs(rollout.id, 'rolled_back'));
    expect((await engine.steps(rollout.id)).deploy).toMatchObject({ status: 'cancelled', error: 'stopped: the rollout was cancelled' });
    expect(engine.calls().filter((c) => c.event === 'start').map((c) => c.name)).toEqual(['prepare', 'deploy', 'unprepare', 'notify']);
    const finished = (await engine.messages(rollout.id)).at(-1)!;
    expect(finished).toContain('ROLLED BACK');
    expect(finished).toContain('Why: cancelled by alice: wrong build');
    const again = await cancelRollout(engine.operations(), rollout.id, alice, 'again');
    expect(again).toEqual({ ok: false, message: `rollgate: rollout #${rollout.id} (cancel-me) is rolled back, so it cannot be cancelled: it has already finished.` });
  });

  it('cancel of a queued rollout ends it at once, and of a rollout parked at a gate rolls it back', async () => {
    const wf = workflow({
      name: 'gate-cancel',
      steps: [
        { id: 'canary', run: run('canary'), undo: { run: run('uncanary') } },
        { id: 'promote', needs: ['canary'], approval: { roles: ['prod-deployer'], timeout: '1h' } },
      ],
    });
    const r = rule('gate-cancel', 'gate-cancel', 'gate-env');
    engine = new Engine(handle, policy([wf], [r]));
    const first = await queueRollout(engine.store, wf, r);
    const second = await queueRollout(engine.store, wf, r);
    engine.start();
    await waitFor('the first to park', statusIs(first.id, 'waiting'));
    expect(await engine.status(second.id)).toBe('queued'); // the environment is held by the parked one
    expect(await cancelRollout(engine.operations(), second.id, alice, 'not needed')).toMatchObject({ ok: true, message: expect.stringContaining('nothing ran') });
    expect(await engine.status(second.id)).toBe('cancelled');
    expect(await cancelRollout(engine.operations(), first.id, alice, 'abandon')).toMatchObject({ ok: true });
    await waitFor('the first to roll back', statusIs(first.id, 'rolled_back'));
    expect((await engine.steps(first.id)).promote!.status).toBe('cancelled');
    expect(engine.calls().filter((c) => c.event === 'start').map((c) => c.name)).toEqual(['canary', 'uncanary']);
    expect(await approveGate(engine.operations(), first.id, alice, 'too late')).toMatchObject({ ok: false, message: expect.stringContaining('not waiting at an approval gate') });
  });

  it("an approval gate refuses the change's author (and anyone the caller could not place) unless the rule lets authors approve", async () => {
    const wf = workflow({ name: 'gate-author', steps: [{ id: 'promote', approval: { roles: ['prod-deployer'], timeout: '1h' } }] });
    const strict = rule('gate-author', 'gate-author', 'gate-author-env');
    const lenient = { ...strict, name: 'gate-author-lenient', environment: 'gate-author-lenient-env', approval: strict.approval.map((g) => ({ ...g, forbid_self_approval: false })) };
    engine = new Engine(handle, policy([wf], [strict, lenient]));
    const held = await queueRollout(engine.store, wf, strict);
    const open = await queueRollout(engine.store, wf, lenient);
    engine.start();
    await waitFor('both to park at the gate', async () => (await engine!.status(held.id)) === 'waiting' && (await engine!.status(open.id)) === 'waiting');

    const owner = { ...alice, relation: 'owns' } as const;
    expect(await approveGate(engine.operations(), held.id, owner, 'mine')).toEqual({
      ok: false,
      forbidden: true,
      message: "rollgate: alice's approve does not count: alice owns the change, and an approval gate needs someone else (no self-approval).",
    });
    const { relation: _, ...unplaced } = alice;
    expect(await approveGate(engine.operations(), held.id, unplaced, 'who knows')).toMatchObject({ ok: false, forbidden: true, message: expect.stringContaining('alice may be the author of the change') });
    expect(await engine.status(held.id)).toBe('waiting');

    expect(await approveGate(engine.operations(), open.id, owner, 'the rule lets authors approve')).toMatchObject({ ok: true });
    expect(await approveGate(engine.operations(), held.id, alice, 'reviewed')).toMatchObject({ ok: true });
    await waitFor('both to succeed', async () => (await engine!.status(held.id)) === 'succeeded' && (await engine!.status(open.id)) === 'succeeded');
  });

  it('retry re-runs a failed rollout from the failed step, once however many ask, and reports the new run', async () => {
    const wf = workflow({
      name: 'retry-me',
      steps: [
        { id: 'build', run: run('build') },
        { id: 'deploy', needs: ['build'], run: run('deploy', { 'fail-first': 1 }) },
        { id: 'verify', needs: ['deploy'], run: run('verify') },
      ],
    });
    const r = rule('retry-me', 'retry-me', 'retry-env');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start();
    await waitFor('the failure', statusIs(rollout.id, 'failed'));
    expect(await retryRollout(engine.operations(), 999_999, alice, 'x')).toEqual({ ok: false, message: 'rollgate: there is no rollout #999999.' });
    const [a, b] = await Promise.all([retryRollout(engine.operations(), rollout.id, alice, 'flake'), retryRollout(engine.operations(), rollout.id, alice, 'flake')]);
    expect([a.ok, b.ok].sort()).toEqual([false, true]);
    await waitFor('the retry to succeed', statusIs(rollout.id, 'succeeded'));
    expect(started('build')).toHaveLength(1);
    expect(started('deploy')).toHaveLength(2);
    expect(started('verify')).toHaveLength(1);
    const messages = await engine.messages(rollout.id);
    expect(messages.filter((m) => m.includes('FAILED'))).toHaveLength(1);
    expect(messages.filter((m) => m.includes('STARTED'))).toHaveLength(2);
    expect(messages.at(-1)).toContain('SUCCEEDED');
    expect((await engine.reads.get(rollout.id))!.run).toBe(2);
  });

  it('rollback of a finished rollout runs its undo steps newest first, then its rollback steps', async () => {
    const wf = workflow({
      name: 'undo-later',
      steps: [
        { id: 'db', run: run('db'), undo: { run: run('undo-db') } },
        { id: 'app', needs: ['db'], run: run('app'), undo: { run: run('undo-app', {}, ['${rollout.previous_rev}']) } },
      ],
      rollback: [{ id: 'announce', run: run('announce') }],
    });
    const r = rule('undo-later', 'undo-later', 'undo-later-env');
    engine = new Engine(handle, policy([wf], [r]));
    const older = await queueRollout(engine.store, wf, r);
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start();
    await waitFor('both to succeed', async () => (await engine!.status(older.id)) === 'succeeded' && (await engine!.status(rollout.id)) === 'succeeded');
    expect(await cancelRollout(engine.operations(), rollout.id, alice, 'x')).toMatchObject({ ok: false });
    expect(await rollbackRollout(engine.operations(), rollout.id, alice, 'bad metrics')).toMatchObject({ ok: true });
    await waitFor('the rollback', statusIs(rollout.id, 'rolled_back'));
    const names = engine.calls().filter((c) => c.event === 'start').map((c) => c.name);
    expect(names.slice(-3)).toEqual(['undo-app', 'undo-db', 'announce']);
    // the revision to go back to is the one the previous successful rollout deployed
    expect(started('undo-app')[0]!.args).toEqual([older.new_rev]);
    const finished = (await engine.messages(rollout.id)).at(-1)!;
    expect(finished).toContain('ROLLED BACK');
    expect(finished).toContain('Why: rollback requested by alice: bad metrics');
    expect(await rollbackRollout(engine.operations(), rollout.id, alice, 'again')).toMatchObject({ ok: false });
  });
});
