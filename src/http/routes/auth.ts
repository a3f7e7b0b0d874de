import type { Router } from '@koa/router';
import { createRouter } from '../router.js';
import type { Context } from 'koa';
import { BadRequestError, UnavailableError } from '../../errors.js';
import { presentedCsrf, requireCsrf, CSRF_HEADER } from '../../identity/csrf.js';
import type { Identity } from '../../identity/identity.js';
import { requireOperator, type AuthState } from '../../identity/operator-resolver.js';
import type { Logger } from '../../log.js';
import { readFields } from '../form-body.js';

/**
 * Operator login through OpenID Connect:
 * - `GET /auth/login?return_to=/path` sends the browser to the IdP (code flow, PKCE, state, nonce);
 * - `GET /auth/callback` checks the answer, maps the person to their Gerrit account, starts a session;
 * - `POST /auth/logout` ends the session everywhere (the row is deleted) and goes to `/`;
 * - `GET /auth/me` says who the caller is, their roles, and the CSRF token forms must send.
 */
export function authRoutes(identity: Identity, logger: Logger): Router {
  const router = createRouter({ prefix: '/auth' });
  const { idp, sessions, cookies, resolver, config } = identity;

  router.get('/login', async (ctx) => {
    const returnTo = localPath(ctx.query.return_to);
    let login: Awaited<ReturnType<typeof idp.startLogin>>;
    try {
      login = await idp.startLogin();
    } catch (err) {
      logger.error({ err }, 'starting a login failed: the identity provider is unreachable or misconfigured');
      throw new UnavailableError('the identity provider cannot be reached; try again later');
    }
    cookies.setLogin(ctx, { ...login.pending, returnTo });
    noStore(ctx);
    ctx.redirect(login.url);
  });

  router.get('/callback', async (ctx) => {
    noStore(ctx);
    // taken once: a second use of this callback finds no login in progress
    const pending = cookies.takeLogin(ctx);
    if (!pending) throw new BadRequestError('no login in progress here (it expired after 10 minutes, or was already used): start again at /auth/login');
    const callback = new URL(config.redirectUrl);
    callback.search = ctx.querystring;
    const claims = await idp.finishLogin(callback, pending);
    const account = await resolver.accountOf(claims);
    const id = await sessions.create({ login: claims.login, accountId: account.accountId, username: account.username, idpGroups: claims.groups, ttlMs: config.sessionTtlMs });
    cookies.setSession(ctx, id);
    logger.info({ login: claims.login, accountId: account.accountId }, 'operator logged in');
    ctx.redirect(pending.returnTo);
  });

  router.post('/logout', async (ctx) => {
    const id = cookies.sessionId(ctx);
    const operator = (ctx.state as AuthState).operator;
    if (id && operator?.via === 'session') {
      const { fields } = await readFields(ctx);
      requireCsrf(operator, presentedCsrf(ctx.get(CSRF_HEADER), fields));
      await sessions.revoke(id);
      logger.info({ accountId: operator.account.accountId }, 'operator logged out');
    }
    cookies.clearSession(ctx);
    ctx.redirect('/');
    ctx.status = 303;
  });

  router.get('/me', (ctx) => {
    const operator = requireOperator(ctx);
    noStore(ctx);
    ctx.body = {
      account: { id: operator.account.accountId, username: operator.account.username ?? null },
      roles: operator.roles,
      via: operator.via,
      ...(operator.csrfToken !== undefined ? { csrfToken: operator.csrfToken } : {}),
    };
  });

  return router;
}

/** Starts with exactly one slash: not `//host` or `/\host`, which leave the site. */
const SINGLE_SLASH_PATH = /^\/(?![/\\])/;

/**
 * `return_to` as a path on this site; anything that could leave it (`//host`, `/\host`, an
 * absolute URL) is refused, so rollgate cannot be used to send people elsewhere after login.
 * The check is on the path as resolved, which is what the Location header carries: `/.//host`,
 * `/..//host` and `/%2e//host` resolve to `//host`, which a browser reads as another site.
 */
function localPath(value: unknown): string {
  if (value === undefined) return '/';
  const base = 'http://rollgate.invalid';
  // backslashes and control characters are refused before resolving: browsers read `\` as `/` and drop tabs and newlines
  if (typeof value === 'string' && value.startsWith('/') && !/[\\\u0000-\u001f\u007f]/.test(value)) {
    const url = new URL(value, base);
    const path = `${url.pathname}${url.search}${url.hash}`;
    if (url.origin === base && SINGLE_SLASH_PATH.test(path)) return path;
  }
  throw new BadRequestError('return_to: must be a path on this site, such as /rollouts/7');
}

function noStore(ctx: Context): void {
  ctx.set('Cache-Control', 'no-store');
}
