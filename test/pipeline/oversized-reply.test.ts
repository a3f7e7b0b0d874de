import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../src/service.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { startServiceOnDoubles } from '../helpers/service-on-doubles.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * Gerrit refuses a review message over 16 KiB for good, so a reply that grows with what someone
 * wrote (one line per bad command) must still be posted, cut to fit, rather than lost.
 */
describe.each(BACKENDS)('%s: a reply to a huge comment', (backend) => {
  let ssh: SshGerritDouble;
  let rest: RestGerritDouble;
  let database: TestDatabase;
  let service: RunningService;

  beforeAll(async () => {
    ssh = await startSshGerritDouble();
    rest = await startRestGerritDouble();
    rest.addAccount(alice, [GROUPS.sre]);
    rest.addAccount(bob, [GROUPS.developers]);
    database = await createTestDatabase(backend);
    ({ service } = await startServiceOnDoubles({ name: 'oversized', database, rest, ssh }));
  });

  afterAll(async () => {
    await service?.stop();
    await database?.drop();
    await ssh?.close();
    await rest?.close();
  });

  it('is posted under 16 KiB, cut with a note, when the comment holds a thousand bad commands', async () => {
    const change = mergedChange(301, bob, { commitMessage: 'x\n\nRollout-Justification: y\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    rest.setChange(change);
    ssh.push(changeMergedEvent(change));
    await waitFor('the finish message', () => rest.reviews.find((r) => r.changeNumber === 301 && r.message.includes('SUCCEEDED')), 30_000);

    const comment = Array.from({ length: 1000 }, (_, i) => `/rollout frobnicate-${i}`).join('\n');
    ssh.push(commentAddedEvent(change, bob, comment));
    const reply = await waitFor('the reply', () => rest.reviews.find((r) => r.changeNumber === 301 && r.message.includes('unknown command')), 30_000);

    expect(Buffer.byteLength(reply.message)).toBeLessThanOrEqual(16 * 1024);
    expect(reply.message).toMatch(/^rollgate: unknown command "\/rollout frobnicate-0"/);
    expect(reply.message).toMatch(/\[message cut to fit Gerrit's size limit; see rollgate for the rest\]$/);
  }, 60_000);
});
