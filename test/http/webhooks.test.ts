import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../src/service/service.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { startServiceOnDoubles } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';

const SECRET = 'webhook-secret-0123456789abcdef';

describe.each(BACKENDS)('%s: POST /hooks/gerrit (webhooks plugin intake)', (backend) => {
  let rest: RestGerritDouble;
  let database: TestDatabase;
  let service: RunningService;

  beforeAll(async () => {
    rest = await startRestGerritDouble();
    rest.addAccount(alice, [GROUPS.sre]);
    rest.addAccount(bob, [GROUPS.developers]);
    database = await createTestDatabase(backend);
    ({ service } = await startServiceOnDoubles({
      name: 'hooks',
      database,
      rest,
      env: ({ tmp }) => {
        writeFileSync(path.join(tmp, 'secret'), `${SECRET}\n`);
        return { ROLLGATE_WEBHOOK_SECRET_FILE: path.join(tmp, 'secret'), ROLLGATE_WEBHOOK_MAX_BYTES: '65536' };
      },
    }));
  });
  afterAll(async () => {
    await service?.stop();
    await database?.drop();
    await rest?.close();
  });

  const post = (pathAndQuery: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${service.url}${pathAndQuery}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=UTF-8', 'x-origin-url': 'http://gerrit.example/', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const eventCount = async () => (await service.database.db.selectFrom('events').select(({ fn }) => fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n;

  it('refuses deliveries without the secret, or with a wrong one, and stores nothing', async () => {
    const change = mergedChange(301, bob, { votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    const before = Number(await eventCount());
    for (const url of ['/hooks/gerrit', '/hooks/gerrit/wrong-secret-wrong-secret', '/hooks/gerrit?token=nope']) {
      const r = await post(url, changeMergedEvent(change));
      expect(r.status).toBe(401);
      expect(await r.json()).toEqual({ error: 'a valid webhook secret is required', code: 'unauthorized' });
    }
    const basicWrong = await post('/hooks/gerrit', changeMergedEvent(change), { authorization: `Basic ${Buffer.from('gerrit:wrong').toString('base64')}` });
    expect(basicWrong.status).toBe(401);
    expect(Number(await eventCount())).toBe(before);
  });

  it('rolls out a merge delivered with the secret, once however often it is delivered', async () => {
    const change = mergedChange(302, bob, { commitMessage: 'Hook\n\nRollout-Justification: via webhook\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    rest.setChange(change);
    const first = await post(`/hooks/gerrit/${SECRET}`, changeMergedEvent(change));
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ stored: true, duplicate: false, type: 'change-merged' });
    const again = await post(`/hooks/gerrit?token=${SECRET}`, changeMergedEvent(change));
    expect(await again.json()).toEqual({ stored: false, duplicate: true, type: 'change-merged' });
    const basic = await post('/hooks/gerrit', changeMergedEvent(change), { authorization: `Basic ${Buffer.from(`gerrit:${SECRET}`).toString('base64')}` });
    expect(basic.status).toBe(202);
    await waitFor('the finish message', () => rest.reviews.find((r) => r.changeNumber === 302 && r.message.includes('SUCCEEDED')), 30_000);
    const rows = await service.database.db.selectFrom('rollouts').select('id').where('change_number', '=', 302).execute();
    expect(rows).toHaveLength(1);
    const event = await service.database.db.selectFrom('events').select('source').where('type', '=', 'change-merged').where('raw', 'like', '%"number":302,%').executeTakeFirstOrThrow();
    expect(event.source).toBe('webhook');
  });

  it('keeps a malformed delivery as rejected with the reason, and caps the body size', async () => {
    const bad = await post(`/hooks/gerrit/${SECRET}`, '{"type":"change-merged",');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^event rejected \(kept for inspection\): not JSON: /);
    const stored = await service.database.db.selectFrom('events').select(['status', 'source']).where('raw', '=', '{"type":"change-merged",').executeTakeFirstOrThrow();
    expect(stored).toEqual({ status: 'rejected', source: 'webhook' });

    const huge = await post(`/hooks/gerrit/${SECRET}`, JSON.stringify({ type: 'comment-added', comment: 'x'.repeat(70_000) }));
    expect(huge.status).toBe(413);
    const text = await post(`/hooks/gerrit/${SECRET}`, 'hello', { 'content-type': 'text/plain' });
    expect(text.status).toBe(400);
  });

  it('does not act on a /rollout approve comment that Gerrit does not show (a forged delivery)', async () => {
    const change = mergedChange(303, bob, { votes: { 'Code-Review': [{ account: bob, value: 2 }] } });
    rest.setChange(change);
    await post(`/hooks/gerrit/${SECRET}`, changeMergedEvent(change));
    await waitFor('the hold message', () => rest.reviews.find((r) => r.changeNumber === 303 && r.message.includes('ON HOLD')));

    // forged: alice never wrote this on Gerrit
    await post(`/hooks/gerrit/${SECRET}`, commentAddedEvent(change, alice, '/rollout approve forged by someone else'));
    const forged = await waitFor('the forged comment to be judged', async () => {
      const row = await service.database.db.selectFrom('events').select(['status', 'reason']).where('raw', 'like', '%forged by someone else%').executeTakeFirst();
      return row?.status === 'ignored' && row;
    });
    expect(forged.reason).toBe("Gerrit shows no message by alice on change 303 whose commands are exactly this comment's; a webhook event is not acted on by itself");
    expect((await service.database.db.selectFrom('rollouts').select('status').where('change_number', '=', 303).executeTakeFirstOrThrow()).status).toBe('held');

    // real: Gerrit shows alice's comment, so the same delivery is acted on
    rest.addMessage(change, alice, '/rollout approve real approval INC-5');
    await post(`/hooks/gerrit/${SECRET}`, commentAddedEvent(change, alice, '/rollout approve real approval INC-5'));
    await waitFor('the finish message', () => rest.reviews.find((r) => r.changeNumber === 303 && r.message.includes('SUCCEEDED')), 30_000);
  });
});
