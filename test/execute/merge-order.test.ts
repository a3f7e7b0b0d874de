import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../src/db/database.js';
import { BACKENDS, openTestDatabase } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';
import { Engine, policy, queueRollout, rule, run, workflow } from './engine-harness.js';

/**
 * An environment's queue runs in merge order, not in the order rollgate decided: a back-fill
 * decides several merges at once, and a held rollout is approved whenever someone gets to it.
 */
describe.each(BACKENDS)('%s: environment queues in merge order', (backend) => {
  let handle: DatabaseHandle;
  let cleanup: () => Promise<void>;
  let engine: Engine | undefined;
  const at = (minute: number) => new Date(Date.UTC(2026, 0, 5, 10, minute));

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

  const deployWorkflow = (name: string) => workflow({ name, steps: [{ id: 'deploy', run: run('deploy', { sleep: 50 }, ['${change.number}']) }] });
  const deployed = (e: Engine) => e.calls().filter((c) => c.event === 'start').map((c) => Number(c.args[0]));

  it('serial: merges decided newest first still run oldest merge first', async () => {
    const wf = deployWorkflow('order-serial');
    const r = rule('order-serial-prod', wf.name, 'order-serial-prod');
    engine = new Engine(handle, policy([wf], [r]));
    // decided in this order (as a back-fill would, newest first): ids ascend, merge times do not
    const newest = await queueRollout(engine.store, wf, r, { mergedAt: at(3) });
    const oldest = await queueRollout(engine.store, wf, r, { mergedAt: at(1) });
    const middle = await queueRollout(engine.store, wf, r, { mergedAt: at(2) });
    engine.start(2);
    await waitFor('all to succeed', async () => (await Promise.all([newest, oldest, middle].map((x) => engine!.status(x.id)))).every((s) => s === 'succeeded'));
    expect(deployed(engine)).toEqual([oldest.change_number, middle.change_number, newest.change_number]);
  });

  it('supersede: an older merge decided after a newer one is superseded by it, not deployed over it', async () => {
    const wf = deployWorkflow('order-super');
    const r = rule('order-super-prod', wf.name, 'order-super-prod', 'supersede');
    engine = new Engine(handle, policy([wf], [r]));
    const newer = await queueRollout(engine.store, wf, r, { mergedAt: at(2) });
    const older = await queueRollout(engine.store, wf, r, { mergedAt: at(1) });
    engine.start(2);
    await waitFor('the newer merge to succeed', async () => (await engine!.status(newer.id)) === 'succeeded');
    expect(await engine.reads.get(older.id)).toMatchObject({ status: 'superseded', superseded_by: newer.id, outcome: `superseded by rollout #${newer.id}, a newer merge of the same rule` });
    expect(deployed(engine)).toEqual([newer.change_number]);
    expect(await engine.messages(older.id)).toEqual([expect.stringContaining(`A newer merge of the same rule, rollout #${newer.id}, replaces it`)]);
  });

  it('supersede: an older merge approved after a newer one already rolled out does not put the older revision back', async () => {
    const wf = deployWorkflow('order-late');
    const r = rule('order-late-prod', wf.name, 'order-late-prod', 'supersede');
    engine = new Engine(handle, policy([wf], [r]));
    const held = await queueRollout(engine.store, wf, r, { mergedAt: at(1), decision: 'hold' });
    const newer = await queueRollout(engine.store, wf, r, { mergedAt: at(2) });
    engine.start(1);
    await waitFor('the newer merge to succeed', async () => (await engine!.status(newer.id)) === 'succeeded');
    // the approval arrives now: the held rollout is decided again and queued
    await engine.store.redecide(held.id, { decision: 'allow', reasons: [], approvers: [], justification: 'late approval' });
    engine.operations().wake();
    await waitFor('the late one to be superseded', async () => (await engine!.status(held.id)) === 'superseded');
    expect((await engine.reads.get(held.id))!.outcome).toBe(`superseded by rollout #${newer.id}, a newer merge of the same rule that already rolled out`);
    expect(await engine.steps(held.id)).toEqual({ deploy: { status: 'skipped', attempts: 0, error: null, note: `superseded by rollout #${newer.id}` } });
    expect(deployed(engine)).toEqual([newer.change_number]);
  });

  it('supersede: an older merge approved between the supersede pass and the claim is never claimed, and goes at the next pass', async () => {
    const wf = deployWorkflow('order-race');
    const r = rule('order-race-prod', wf.name, 'order-race-prod', 'supersede');
    engine = new Engine(handle, policy([wf], [r]));
    const held = await queueRollout(engine.store, wf, r, { mergedAt: at(1), decision: 'hold' });
    const newer = await queueRollout(engine.store, wf, r, { mergedAt: at(2) });
    expect((await engine.leases.claim('worker-1', 60_000, [r.name]))?.id).toBe(newer.id);
    expect((await engine.leases.finish(newer.id, 'succeeded', 'worker-1'))?.status).toBe('succeeded');
    // the supersede pass ran (nothing queued to supersede), then the approval queues the older merge
    expect(await engine.leases.supersedeQueued([r.name])).toEqual([]);
    await engine.store.redecide(held.id, { decision: 'allow', reasons: [], approvers: [], justification: 'late approval' });
    expect(await engine.leases.claim('worker-2', 60_000, [r.name])).toBeUndefined();
    expect(await engine.status(held.id)).toBe('queued');
    expect((await engine.leases.supersedeQueued([r.name])).map((row) => row.id)).toEqual([held.id]);
    expect(await engine.status(held.id)).toBe('superseded');
  });

  it('serial: an older merge approved late still runs (every merge runs), after the environment is free', async () => {
    const wf = deployWorkflow('order-late-serial');
    const r = rule('order-late-serial-prod', wf.name, 'order-late-serial-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const held = await queueRollout(engine.store, wf, r, { mergedAt: at(1), decision: 'hold' });
    const newer = await queueRollout(engine.store, wf, r, { mergedAt: at(2) });
    engine.start(1);
    await waitFor('the newer merge to succeed', async () => (await engine!.status(newer.id)) === 'succeeded');
    await engine.store.redecide(held.id, { decision: 'allow', reasons: [], approvers: [], justification: 'late approval' });
    engine.operations().wake();
    await waitFor('the late one to succeed', async () => (await engine!.status(held.id)) === 'succeeded');
    expect(deployed(engine)).toEqual([newer.change_number, held.change_number]);
  });
});
