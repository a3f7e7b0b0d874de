import { afterEach, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { changeMergedEvent } from '../helpers/change-events.js';
import { waitFor } from '../helpers/wait-for.js';
import { startFaultRig, type FaultRig } from './fault-harness.js';

describe.each(BACKENDS)('%s: stream faults end with each merge rolled out once and reported once', (backend) => {
  let rig: FaultRig | undefined;
  let database: TestDatabase | undefined;

  const start = async (env: Record<string, string> = {}) => {
    database = await createTestDatabase(backend);
    rig = await startFaultRig({ databaseUrl: database.url, env });
    return rig;
  };

  afterEach(async () => {
    await rig?.stop();
    await database?.drop();
    rig = undefined;
    database = undefined;
  });

  it('SSH cut mid-line: the half-written event comes back through the back-fill after the reconnect', async () => {
    const { ssh, service, approvedMerge, expectRolledOutOnce } = await start();
    const before = await service.database.db.selectFrom('events').select('id').execute();
    const change = approvedMerge(201);
    const line = JSON.stringify(changeMergedEvent(change));
    ssh.pushRaw(line.slice(0, Math.floor(line.length / 2)));
    // the half line has reached rollgate's socket before the cut
    await new Promise<void>((resolve) => setImmediate(resolve));
    ssh.dropAll();
    await ssh.waitForSession(2);
    await expectRolledOutOnce(change);
    // the truncated tail was stored as rejected, not acted on
    const events = await service.database.db.selectFrom('events').select(['source', 'status', 'type']).where('id', 'not in', before.length ? before.map((e) => e.id) : [0]).execute();
    expect(events.filter((e) => e.type === 'change-merged' && e.status !== 'rejected').map((e) => e.source)).toEqual(['backfill']);
  });

  it('dropped-output after lost events: the back-fill fetches the merges the stream never sent', async () => {
    const { ssh, approvedMerge, expectRolledOutOnce } = await start();
    const delivered = approvedMerge(211);
    const lost = [approvedMerge(212), approvedMerge(213)];
    ssh.push(changeMergedEvent(delivered));
    ssh.push({ type: 'dropped-output', eventCreatedOn: Math.floor(Date.now() / 1000) });
    for (const change of [delivered, ...lost]) await expectRolledOutOnce(change);
    // the delivered one arrived twice (stream and back-fill), and is still one rollout
  });

  it('a stall with the TCP connection open (keepalives answered, no events): detected, back-filled, reconnected', async () => {
    const { ssh, service, approvedMerge, expectRolledOutOnce } = await start({ ROLLGATE_STALL_MS: '300' });
    const commandsBefore = ssh.commands.length;
    // Gerrit shows a merge, but its stream-events sender never writes it
    const change = approvedMerge(221);
    await expectRolledOutOnce(change);
    expect(ssh.commands.length).toBeGreaterThan(commandsBefore);
    // the stream is opened again (the rollout may finish first: the back-fill found the merge)
    await waitFor('the stream to be connected again', () => service.streamConnected());
  });

  it('the scheduled back-fill sweep finds a merge the stream never sent, without a reconnect', async () => {
    const { ssh, approvedMerge, expectRolledOutOnce } = await start({ ROLLGATE_BACKFILL_CRON: '* * * * * *' });
    const commandsBefore = ssh.commands.length;
    const change = approvedMerge(226);
    await expectRolledOutOnce(change);
    expect(ssh.commands.length).toBe(commandsBefore);
  });

  it('a stall where the server stops reading and writing (stallAll): detected before keepalives give up', async () => {
    const { ssh, approvedMerge, expectRolledOutOnce } = await start({ ROLLGATE_STALL_MS: '300' });
    ssh.stallAll();
    const change = approvedMerge(231);
    await expectRolledOutOnce(change);
    await waitFor('a new stream session', () => ssh.sessions >= 1);
  });
});
