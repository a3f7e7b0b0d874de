import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { OTHER_CLIENT_ID } from '../helpers/oidc-provider.js';
import { startRollgateWithLogin, type RollgateWithLogin } from '../helpers/rollgate-with-login.js';

describe.each(BACKENDS)('%s: operator login through a real OpenID provider', (backend) => {
  let r: RollgateWithLogin;

  beforeAll(async () => {
    r = await startRollgateWithLogin(backend);
  });

  afterAll(async () => {
    await r?.stop();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${r.url}${path}`, { headers, redirect: 'manual' });
  const me = async (cookie: string) => {
    const res = await get('/auth/me', { cookie });
    return { status: res.status, body: (await res.json()) as { account?: { username: string }; roles?: Array<{ role: string; via: string }>; via?: string; csrfToken?: string; error?: string } };
  };

  it('logs alice in: a session cookie that lists rollouts and knows her roles, and only hashes in the database', async () => {
    const { cookie, location } = await r.idp.login(r.url, 'alice', '/rollouts/7?tab=steps');
    expect(location).toBe('/rollouts/7?tab=steps');
    expect(cookie).toMatch(/rollgate_session=[^;]+/);

    const list = await get('/api/rollouts', { cookie });
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({ rollouts: [] });

    const who = await me(cookie);
    expect(who.status).toBe(200);
    expect(who.body.account?.username).toBe('alice');
    expect(who.body.roles).toEqual([{ role: 'prod-deployer', via: 'sre' }]);
    expect(who.body.via).toBe('session');
    expect(who.body.csrfToken).toMatch(/^[\w-]{40,}$/);

    const sessionId = decodeURIComponent(/rollgate_session=([^;]+)/.exec(cookie)![1]!);
    const rows = await r.service.database.db.selectFrom('operator_sessions').selectAll().where('login', '=', 'alice').execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ login: 'alice', account_id: 1000001, username: 'alice', idp_groups: ['staff'] });
    expect(JSON.stringify(rows)).not.toContain(sessionId);
    expect(JSON.stringify(rows)).not.toContain(who.body.csrfToken);
  });

  it('gives roles through idp_groups to someone with no Gerrit group', async () => {
    const { cookie } = await r.idp.login(r.url, 'dave');
    expect((await me(cookie)).body.roles).toEqual([{ role: 'prod-deployer', via: 'idp:ops-oncall' }]);
  });

  it('requires a login for the API once login is configured', async () => {
    const res = await get('/api/rollouts');
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toContain('/auth/login');
    expect((await get('/healthz')).status).toBe(200);
  });

  it('refuses a session cookie that was not signed by rollgate', async () => {
    const forged = await get('/api/rollouts', { cookie: 'rollgate_session=abc; rollgate_session.sig=xyz' });
    expect(forged.status).toBe(401);
  });

  it('rejects a callback with the wrong state, and a replayed callback', async () => {
    const jar = new CookieJar();
    const start = await get('/auth/login');
    jar.take(start);
    const callback = new URL(await r.idp.authorize(start.headers.get('location')!, 'alice'));
    const loginCookies = jar.header();

    const tampered = new URL(callback);
    tampered.searchParams.set('state', 'not-the-state-rollgate-sent');
    const bad = await fetch(tampered, { headers: loginCookies, redirect: 'manual' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^the login could not be completed: .*state/);

    // the tampered try used up the login cookie in that browser; the genuine callback still needs it once
    const good = await fetch(callback, { headers: loginCookies, redirect: 'manual' });
    expect(good.status).toBe(302);
    const again = await fetch(callback, { headers: loginCookies, redirect: 'manual' });
    expect(again.status).toBe(400);
    expect(((await again.json()) as { error: string }).error).toMatch(/code|grant/i);

    const noLogin = await fetch(callback, { redirect: 'manual' });
    expect(noLogin.status).toBe(400);
    expect(((await noLogin.json()) as { error: string }).error).toContain('no login in progress');
  });

  it('only sends people back to paths on this site', async () => {
    for (const target of ['https://evil.example/', '//evil.example/x', '/\\evil.example']) {
      const res = await get(`/auth/login?return_to=${encodeURIComponent(target)}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('return_to: must be a path on this site, such as /rollouts/7');
    }
  });

  it('logs out: the session is deleted, so the same cookie no longer works anywhere', async () => {
    const { cookie } = await r.idp.login(r.url, 'bob');
    const { csrfToken } = (await me(cookie)).body;

    const withoutToken = await fetch(`${r.url}/auth/logout`, { method: 'POST', headers: { cookie }, redirect: 'manual' });
    expect(withoutToken.status).toBe(403);
    expect((await get('/api/rollouts', { cookie })).status).toBe(200);

    const out = await fetch(`${r.url}/auth/logout`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${csrfToken}`, redirect: 'manual' });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/');
    expect(out.headers.getSetCookie().join('\n')).toMatch(/rollgate_session=;/);
    const after = await get('/api/rollouts', { cookie });
    expect(after.status).toBe(401);
    expect(((await after.json()) as { error: string }).error).toContain('session has ended');
    expect(await r.service.database.db.selectFrom('operator_sessions').select('login').where('login', '=', 'bob').execute()).toEqual([]);
  });

  it('accepts a bearer token from the provider for scripts, and refuses a garbage one', async () => {
    const token = await r.idp.accessToken('carol');
    const ok = await get('/auth/me', { authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ account: { id: 1000003, username: 'carol' }, roles: [], via: 'bearer' });
    expect((await get('/api/rollouts', { authorization: `Bearer ${token}` })).status).toBe(200);

    const garbage = await get('/api/rollouts', { authorization: 'Bearer not-a-token-the-idp-issued' });
    expect(garbage.status).toBe(401);
    expect(((await garbage.json()) as { error: string }).error).toContain('did not accept the bearer token');
  });

  it("refuses a token the provider issued to another application, though the provider's userinfo accepts it", async () => {
    const token = await r.idp.accessToken('alice', OTHER_CLIENT_ID);
    expect(await r.idp.introspect(token)).toMatchObject({ active: true, client_id: OTHER_CLIENT_ID });
    const refused = await get('/auth/me', { authorization: `Bearer ${token}` });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toBe(`the bearer token was issued to client ${OTHER_CLIENT_ID}, not to rollgate: use a token issued to client rollgate`);
    expect((await get('/api/rollouts', { authorization: `Bearer ${token}` })).status).toBe(401);
  });
});
