import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { startRollgateWithLogin, type RollgateWithLogin } from '../helpers/rollgate-with-login.js';

/**
 * Attack (issue 11, hole 13): with `ROLLGATE_OIDC_ACCOUNT_CLAIM=email`, anyone who could make
 * the provider carry alice's address (self-service sign-up, an editable profile) became alice:
 * `email_verified` was not read. The provider here issues mallory the address alice@example.com,
 * not verified; alice@example.com is alice's e-mail in Gerrit.
 */
const REFUSAL = 'the identity provider has not verified this e-mail address (email_verified is not true), so it cannot name a Gerrit account';

describe.each(BACKENDS)('%s: an unverified e-mail claim does not log in as the Gerrit account with that e-mail', (backend) => {
  let r: RollgateWithLogin;

  beforeAll(async () => {
    r = await startRollgateWithLogin(backend, {
      env: { ROLLGATE_OIDC_ACCOUNT_CLAIM: 'email' },
      idpUsers: [{ login: 'mallory', email: 'alice@example.com', groups: ['ops-oncall'], emailVerified: false }],
    });
  });

  afterAll(async () => {
    await r?.stop();
  });

  const sessions = () => r.service.database.db.selectFrom('operator_sessions').select(['login', 'account_id']).execute();

  it('refuses the login at the callback, saying the provider did not verify the e-mail, and keeps no session', async () => {
    const jar = new CookieJar();
    const start = await fetch(`${r.url}/auth/login?return_to=/rollouts`, { redirect: 'manual' });
    jar.take(start);
    expect(start.status).toBe(302);
    const callback = await r.idp.authorize(start.headers.get('location')!, 'mallory');
    const done = await fetch(callback, { redirect: 'manual', headers: jar.header() });
    expect(done.status).toBe(401);
    expect(((await done.json()) as { error: string }).error).toContain(REFUSAL);
    expect(done.headers.getSetCookie().join('\n')).not.toMatch(/rollgate_session=[^;]/);
    expect(await sessions()).toEqual([]);
  });

  it("refuses mallory's bearer token the same way", async () => {
    const token = await r.idp.accessToken('mallory');
    const res = await fetch(`${r.url}/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toContain(REFUSAL);
    expect((await fetch(`${r.url}/api/rollouts`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  });

  it('still logs in alice, whose address the provider verified', async () => {
    const { cookie, location } = await r.idp.login(r.url, 'alice', '/rollouts');
    expect(location).toBe('/rollouts');
    expect((await fetch(`${r.url}/api/rollouts`, { headers: { cookie } })).status).toBe(200);
    expect(await sessions()).toEqual([{ login: 'alice@example.com', account_id: 1000001 }]);
  });
});
