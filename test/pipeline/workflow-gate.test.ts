import { createServer, type Server } from 'node:http';
import { withoutAuditHead } from '../helpers/audit-head.js';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../src/service/service.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, carol, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';

const dave = { _account_id: 1000004, username: 'dave', name: 'Dave SRE', email: 'dave@example.com' };
import { startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { policiesWithWorkflow } from '../helpers/serve-process.js';
import { startServiceOnDoubles } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * A workflow with an HTTP canary and an approval gate, driven through the whole pipeline: the
 * merge streams in, the canary call reaches a real HTTP server, the gate waits and says so on the
 * change, a person without the role is refused, one with it lets the rollout finish.
 */

const WORKFLOW = `name: deploy-service
steps:
  - id: canary
    http:
      url: "\${env.DEPLOYER_URL}/canary"
      headers: { Authorization: "Bearer \${env.DEPLOYER_TOKEN}" }
      json: { change: "\${change.number}", subject: "\${change.subject}" }
  - id: promote
    needs: [canary]
    approval: { roles: [prod-deployer], timeout: 1h }
  - id: full
    needs: [promote]
    run: ["./ops/step.mjs", "full", "--", "\${change.number}"]
`;

describe.each(BACKENDS)('%s: an approval gate inside a workflow, through Gerrit comments', (backend) => {
  let ssh: SshGerritDouble;
  let rest: RestGerritDouble;
  let database: TestDatabase;
  let service: RunningService;
  let deployer: Server;
  const canaryCalls: Array<{ auth: string | undefined; body: unknown }> = [];

  beforeAll(async () => {
    ssh = await startSshGerritDouble();
    rest = await startRestGerritDouble();
    rest.addAccount(alice, [GROUPS.sre]);
    rest.addAccount(bob, [GROUPS.developers]);
    rest.addAccount(carol, []);
    rest.addAccount(dave, [GROUPS.sre]);
    deployer = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        canaryCalls.push({ auth: req.headers.authorization, body: JSON.parse(body) });
        res.writeHead(202, { 'content-type': 'application/json' }).end('{"canary":"started","token":"deploy-token-1234"}');
      });
    });
    await new Promise<void>((r) => deployer.listen(0, '127.0.0.1', () => r()));
    database = await createTestDatabase(backend);
    ({ service } = await startServiceOnDoubles({
      name: 'gate',
      database,
      rest,
      ssh,
      env: ({ tmp }) => ({
        ROLLGATE_POLICY_DIR: policiesWithWorkflow(tmp, WORKFLOW),
        ROLLGATE_STEP_ENV: 'RECORD_DIR,DEPLOYER_URL,DEPLOYER_TOKEN',
        DEPLOYER_URL: `http://127.0.0.1:${(deployer.address() as AddressInfo).port}`,
        DEPLOYER_TOKEN: 'deploy-token-1234',
      }),
    }));
  });

  afterAll(async () => {
    await service?.stop();
    await database?.drop();
    await ssh?.close();
    await rest?.close();
    await new Promise((r) => deployer?.close(r));
  });

  const reviewsOf = (change: number) => rest.reviews.filter((r) => r.changeNumber === change);

  it('waits at the gate, refuses a person without the role, and goes on for one with it', async () => {
    const change = mergedChange(401, bob, {
      subject: 'Canary "quoted" $(id)',
      commitMessage: 'Canary\n\nRollout-Justification: new pricing\n',
      votes: { 'Code-Review': [{ account: alice, value: 2 }] },
    });
    rest.setChange(change);
    ssh.push(changeMergedEvent(change));

    const waiting = await waitFor('the gate message', () => reviewsOf(401).find((r) => r.message.includes('WAITING FOR APPROVAL')));
    expect(waiting.message).toContain('at step promote');
    expect(waiting.message).toContain('Someone with the role prod-deployer may let it go on');
    expect(canaryCalls).toEqual([{ auth: 'Bearer deploy-token-1234', body: { change: '401', subject: 'Canary "quoted" $(id)' } }]);

    ssh.push(commentAddedEvent(change, carol, '/rollout approve looks fine'));
    const refused = await waitFor('the refusal', () => reviewsOf(401).find((r) => r.message.includes('carol')));
    expect(withoutAuditHead(refused.message)).toMatch(/^rollgate: carol's approval does not count for rollout #\d+ \(payments-api-prod\): step promote needs one of the roles prod-deployer; carol holds none\. Role prod-deployer is given by Gerrit group `sre`\.$/);

    ssh.push(commentAddedEvent(change, alice, '/rollout approve canary is green'));
    const finished = await waitFor('the finish message', () => reviewsOf(401).find((r) => r.message.includes('SUCCEEDED')));
    expect(finished.message).toMatch(/\* canary: succeeded \(HTTP 202/);
    expect(finished.message).toContain('* promote: succeeded');
    expect(finished.message).toContain('approved by alice (prod-deployer): canary is green');
    expect(finished.message).toMatch(/\* full: succeeded \(exit 0/);

    // the deployer's echo of the token is stored redacted
    const rows = await service.database.db.selectFrom('rollout_steps').select(['step_id', 'output_tail', 'http_status']).where('step_id', '=', 'canary').execute();
    expect(rows).toEqual([{ step_id: 'canary', http_status: 202, output_tail: '{"canary":"started","token":"[redacted]"}' }]);
  });

  it('does not let the author of a change pass its approval gate, even with the role', async () => {
    const change = mergedChange(402, dave, { commitMessage: 'Gate\n\nRollout-Justification: x\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    rest.setChange(change);
    ssh.push(changeMergedEvent(change));
    await waitFor('the gate message', () => reviewsOf(402).find((r) => r.message.includes('WAITING FOR APPROVAL')));
    ssh.push(commentAddedEvent(change, dave, '/rollout approve my own change is fine'));
    const refused = await waitFor('the refusal', () => reviewsOf(402).find((r) => r.message.includes('no self-approval')));
    expect(withoutAuditHead(refused.message)).toBe("rollgate: dave's /rollout approve does not count: dave owns the change, and an approval gate needs someone else (no self-approval).");
    expect((await service.database.db.selectFrom('rollouts').select('status').where('change_number', '=', 402).executeTakeFirstOrThrow()).status).toBe('waiting');
    ssh.push(commentAddedEvent(change, alice, '/rollout approve reviewed'));
    await waitFor('the finish message', () => reviewsOf(402).find((r) => r.message.includes('SUCCEEDED')));
  });
});
