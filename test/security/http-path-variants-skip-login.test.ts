import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { rawRequest } from '../helpers/raw-request.js';
import { heldRollout, startRollgateWithLogin, type RollgateWithLogin } from '../helpers/rollgate-with-login.js';

/**
 * Attack (issue 11, hole 1): with login configured, `GET /api/Rollouts` answered 200 with the
 * rollouts, because the login guard matched case-sensitively and the routes did not. This walks
 * EVERY route the running app registered (not a hand-made list) and asks for each, without
 * credentials, in case and encoding variants. A route not in PUBLIC must answer 401 as written,
 * and 401 or 404 in every variant: never a 2xx or a redirect.
 */
const PUBLIC = new Set([
  'GET /', // a redirect to /rollouts, which needs a login
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'GET /assets/rollgate.css',
  'GET /assets/live.js',
  'GET /assets/icon.svg',
  'GET /auth/login',
  'GET /auth/callback',
  'POST /auth/logout', // ends the caller's own session, if any
  'POST /hooks/gerrit', // webhooks prove themselves with their own secret
  'POST /hooks/gerrit/:secret',
  // step identity tokens' issuer (on here): public keys, which Vault and cloud verifiers fetch anonymously
  'GET /.well-known/openid-configuration',
  'GET /.well-known/jwks.json',
]);

/** The same path as a router might be fooled into reading it. */
function variants(path: string): string[] {
  const segments = path.split('/').slice(1);
  const mapSegments = (f: (s: string) => string) => `/${segments.map((s) => (/[a-z]/i.test(s) ? f(s) : s)).join('/')}`;
  const hex = (c: string) => `%${c.charCodeAt(0).toString(16)}`;
  const out = [
    path.toUpperCase(),
    mapSegments((s) => s[0]!.toUpperCase() + s.slice(1)),
    mapSegments((s) => s.slice(0, -1) + s.at(-1)!.toUpperCase()),
    `/${segments.join('%2F')}`,
    `/${segments.join('%2f')}`,
    mapSegments((s) => hex(s[0]!) + s.slice(1)),
    mapSegments((s) => hex(s[0]!).toUpperCase() + s.slice(1)),
    mapSegments((s) => hex(s[0]!.toUpperCase()) + s.slice(1)),
    `${path}/`,
    `/${path}`,
    path.replaceAll('/', '//'),
    `${path}//`,
    `/.${path}`,
    `/%2e${path}`,
    `/assets/..${path}`,
    `/healthz/..${path}`,
    `/hooks/gerrit/..%2F..${path}`,
    `${path}?`,
    `${path}%00`,
  ];
  return [...new Set(out)].filter((v) => v !== path);
}

describe.each(BACKENDS)('%s: case and encoding in the path do not get around the login', (backend) => {
  let r: RollgateWithLogin;
  let rolloutId: number;

  beforeAll(async () => {
    r = await startRollgateWithLogin(backend, { env: { ROLLGATE_STEP_TOKEN_KEY: 'a step token key of more than thirty-two characters' } });
    rolloutId = (await heldRollout(r, 4101, 'Secret plans')).id;
  });

  afterAll(async () => {
    await r?.stop();
  });

  /** A route as PUBLIC names it; HEAD is answered by the GET route. */
  const key = (route: { readonly method: string; readonly path: string }) => `${route.method === 'HEAD' ? 'GET' : route.method} ${route.path}`;
  const concrete = (path: string) => path.replace(':id', String(rolloutId)).replace(':verb', 'approve').replace(':secret', 'not-the-secret');
  const ask = (method: string, path: string) =>
    rawRequest(r.url, method, path, method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{"justification":"because"}' } : {});

  it('lists every public route it exempts among the routes the app registered', () => {
    const registered = new Set(r.service.routes.map(key));
    expect([...PUBLIC].filter((route) => !registered.has(route))).toEqual([]);
    expect(r.service.routes.length).toBeGreaterThan(PUBLIC.size);
  });

  it('answers 404, not a login page, for a path no route has', async () => {
    expect((await ask('GET', '/no-such-page')).status).toBe(404);
    expect((await ask('GET', '/rollouts/1/steps')).status).toBe(404);
  });

  it('answers 401 for every other route, and 401 or 404 for each variant of it, without credentials', async () => {
    const guarded = r.service.routes.filter((route) => !PUBLIC.has(key(route)));
    expect(guarded.map((route) => `${route.method} ${route.path}`)).toEqual(expect.arrayContaining(['GET /api/rollouts', 'GET /api/rollouts/:id', 'GET /rollouts']));
    const wrong: string[] = [];
    for (const route of guarded) {
      const path = concrete(route.path);
      const canonical = await ask(route.method, path);
      if (canonical.status !== 401) wrong.push(`${route.method} ${path} -> ${canonical.status} (want 401)`);
      for (const variant of variants(path)) {
        const res = await ask(route.method, variant);
        if (res.status !== 401 && res.status !== 404) wrong.push(`${route.method} ${variant} -> ${res.status}${res.body.includes('Secret plans') ? ' WITH ROLLOUT DATA' : ''}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
