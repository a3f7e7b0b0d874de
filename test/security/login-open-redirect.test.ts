import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { startRollgateWithLogin, type RollgateWithLogin } from '../helpers/rollgate-with-login.js';

/**
 * Attack (issue 11, hole 7): `/auth/login?return_to=/.//evil.example/phish` ended, after a real
 * login, in `Location: //evil.example/phish`, which a browser follows to another site. Each
 * target below is tried through the whole login at the real OpenID provider: rollgate either
 * refuses it at `/auth/login` (400 naming return_to), or the Location it finally sends is a path
 * on rollgate's own site.
 */
const HOSTILE = [
  '/.//evil.example/phish',
  '/..//evil.example/phish',
  '/%2e//evil.example/phish',
  '/%2E%2E//evil.example/phish',
  '/x/../..//evil.example/phish',
  '/./\\evil.example/phish',
  '/\\evil.example/phish',
  '/%5C/evil.example/phish',
  '/\t/evil.example/phish',
  '/\n/evil.example/phish',
  '/\r\n/evil.example/phish',
  '/.\t//evil.example/phish',
  '//evil.example/phish',
  '///evil.example/phish',
  '\\\\evil.example/phish',
  'https://evil.example/phish',
  'javascript:alert(1)',
];

describe.each(BACKENDS)('%s: return_to after login never leaves the site', (backend) => {
  let r: RollgateWithLogin;

  beforeAll(async () => {
    r = await startRollgateWithLogin(backend);
  });

  afterAll(async () => {
    await r?.stop();
  });

  /** Logs alice in with `return_to`; the answer of /auth/login when it refuses, else the callback's Location. */
  const loginWith = async (returnTo: string): Promise<{ readonly refused?: { status: number; error: string }; readonly location?: string }> => {
    const jar = new CookieJar();
    const start = await fetch(`${r.url}/auth/login?return_to=${encodeURIComponent(returnTo)}`, { redirect: 'manual' });
    jar.take(start);
    if (start.status !== 302) return { refused: { status: start.status, error: ((await start.json()) as { error: string }).error } };
    const callback = await r.idp.authorize(start.headers.get('location')!, 'alice');
    const done = await fetch(callback, { redirect: 'manual', headers: jar.header() });
    expect(done.status).toBe(302);
    return { location: done.headers.get('location') ?? '' };
  };

  /** Where a browser goes with this Location, judged as a browser would (backslashes count as slashes). */
  const sameSite = (location: string) => /^\/(?![/\\])/.test(location) && new URL(location, r.url).origin === new URL(r.url).origin;

  it.each(HOSTILE)('after %j the browser stays on rollgate', async (target) => {
    const outcome = await loginWith(target);
    if (outcome.refused) {
      expect(outcome.refused).toEqual({ status: 400, error: 'return_to: must be a path on this site, such as /rollouts/7' });
    } else {
      const location = outcome.location ?? '';
      expect({ location, sameSite: sameSite(location) }).toEqual({ location, sameSite: true });
    }
  });

  it('still sends people back to an ordinary page with its query', async () => {
    expect(await loginWith('/rollouts/7?x=1')).toEqual({ location: '/rollouts/7?x=1' });
    expect(await loginWith('/rollouts/../audit?kind=login')).toEqual({ location: '/audit?kind=login' });
  });
});
