import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, carol, changeMergedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { freePort } from '../helpers/free-port.js';
import { startTestIdp, TEST_AUDIENCE, type TestIdp } from '../helpers/oidc-provider.js';
import { startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { ServeProcess, serveSetup } from '../helpers/serve-process.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { waitFor } from '../helpers/wait-for.js';

const SESSION_SECRET = 'session-secret-that-must-never-be-logged-0123';
const WORKFLOW = `name: deploy-service
steps:
  - id: deploy
    run: ["./ops/oidc-step.mjs"]
    credentials: { oidc: { audience: "${TEST_AUDIENCE}", scope: deploy } }
`;

describe('rollgate serve with operator login', () => {
  let ssh: SshGerritDouble;
  let rest: RestGerritDouble;
  let idp: TestIdp;
  let database: TestDatabase;
  let serve: ServeProcess | undefined;

  beforeAll(async () => {
    ssh = await startSshGerritDouble();
    rest = await startRestGerritDouble();
    for (const [account, groups] of [[alice, [GROUPS.sre]], [bob, [GROUPS.developers]], [carol, []]] as const) rest.addAccount(account, [...groups]);
    database = await createTestDatabase('pglite');
  });

  afterAll(async () => {
    serve?.child.kill('SIGKILL');
    await ssh?.close();
    await rest?.close();
    await idp?.close();
  });

  it('never writes the client secret, session secret, cookies, codes or tokens to its logs, even at trace level', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    idp = await startTestIdp({ redirectUrl: `${url}/auth/callback` });
    const setup = serveSetup({
      name: 'login-secrets',
      workflow: WORKFLOW,
      database,
      ssh,
      rest,
      env: { PORT: String(port), LOG_LEVEL: 'trace', ROLLGATE_PUBLIC_URL: url, ROLLGATE_SESSION_SECRET: SESSION_SECRET, ...idp.settings },
    });
    serve = new ServeProcess(setup.env);
    await serve.ready();

    const { cookie } = await idp.login(url, 'alice');
    expect((await fetch(`${url}/api/rollouts`, { headers: { cookie } })).status).toBe(200);
    const token = await idp.accessToken('carol');
    expect((await fetch(`${url}/api/rollouts`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await fetch(`${url}/api/rollouts`, { headers: { authorization: 'Bearer garbage-token-1234' } })).status).toBe(401);

    const change = mergedChange(901, bob, { commitMessage: 'x\n\nRollout-Justification: y\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    rest.setChange(change);
    ssh.push(changeMergedEvent(change));
    await waitFor('the finish message', () => rest.reviews.find((r) => r.changeNumber === 901 && r.message.includes('SUCCEEDED')), 30_000);
    const stepToken = readFileSync(path.join(setup.recordDir, 'oidc-token'), 'utf8');

    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    const logs = serve.stdout;
    expect(logs).toContain('"msg":"operator logged in"');
    const sessionId = decodeURIComponent(/rollgate_session=([^;]+)/.exec(cookie)![1]!);
    for (const secret of [idp.clientSecret, SESSION_SECRET, sessionId, token, stepToken, 'garbage-token-1234']) expect(logs).not.toContain(secret);
    expect(logs).not.toContain(Buffer.from(`${idp.clientId}:${idp.clientSecret}`).toString('base64'));
  });
});
