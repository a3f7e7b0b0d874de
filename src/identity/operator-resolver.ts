import { createHash } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Policy } from '../policy/policy-config.js';
import { mergeGrants, rolesForGroups, rolesForIdpGroups, type RoleGrant } from '../policy/roles.js';
import { GerritError, UnauthorizedError, UnavailableError } from '../errors.js';
import type { GerritAccount, GerritClient, GerritGroup } from '../gerrit/gerrit-client.js';
import type { Logger } from '../log.js';
import type { IdentityClaims } from './identity-claims.js';
import type { IdentityProvider } from './identity-provider.js';
import type { Operator, OperatorState } from './operator.js';
import type { SessionCookies } from './session-cookie.js';
import type { SessionStore } from './session-store.js';

export interface OperatorResolverDeps {
  readonly sessions: SessionStore;
  readonly cookies: SessionCookies;
  readonly idp: IdentityProvider;
  readonly gerrit: GerritClient;
  readonly policy: () => Policy;
  readonly logger: Logger;
  /** How long a bearer token's owner is remembered before userinfo is asked again. */
  readonly bearerCacheMs?: number;
}

/** What a request's credentials came to; `problem` says why there is no operator when some were sent. */
export interface AuthState extends OperatorState {
  authProblem?: string;
}

const BEARER_CACHE_MS = 60_000;
const ANONYMOUS_PATHS = /^\/(healthz|readyz|metrics|hooks\/|assets\/)/;
const GROUPS_CACHE_MS = 10_000;
const CACHE_MAX = 1000;

/**
 * Middleware that says who is calling: from `Authorization: Bearer <access token>` (checked at
 * the IdP's userinfo endpoint, remembered briefly by a hash of the token), else from the session
 * cookie. It only fills `ctx.state.operator`; routes decide what needs one (`requireOperator`).
 * The roles it shows come from Gerrit groups at most seconds old and the IdP groups of the login
 * (or of the token); actions look the Gerrit groups up again, so a membership removed in Gerrit
 * counts at once.
 */
export class OperatorResolver {
  readonly #d: OperatorResolverDeps;
  readonly #bearers = new Map<string, { readonly expires: number; readonly who: Promise<Who> }>();
  readonly #groups = new Map<number, { readonly expires: number; readonly groups: Promise<readonly GerritGroup[]> }>();

  constructor(deps: OperatorResolverDeps) {
    this.#d = deps;
  }

  readonly middleware = async (ctx: Context, next: Next): Promise<void> => {
    // probes, metrics, webhooks and static files never act for a person: no lookups for them
    if (ANONYMOUS_PATHS.test(ctx.path)) return next();
    const state = ctx.state as AuthState;
    const auth = ctx.get('authorization');
    if (/^bearer\s/i.test(auth)) {
      try {
        state.operator = await this.#operator(await this.#fromBearer(auth.replace(/^bearer\s+/i, '').trim()), 'bearer');
      } catch (err) {
        if (!(err instanceof UnauthorizedError || err instanceof UnavailableError)) throw err;
        state.authProblem = err.message;
      }
    } else {
      const id = this.#d.cookies.sessionId(ctx);
      const session = id ? await this.#d.sessions.find(id) : undefined;
      if (id && session) {
        const who = { login: session.login, account: { accountId: session.account_id, username: session.username ?? undefined }, idpGroups: session.idp_groups };
        state.operator = { ...(await this.#operator(who, 'session')), csrfToken: this.#d.cookies.csrfToken(id) };
      } else if (id) {
        this.#d.cookies.clearSession(ctx);
        state.authProblem = 'your session has ended (logged out or expired): log in again at /auth/login';
      }
    }
    await next();
  };

  /** The Gerrit account of an IdP identity; a login Gerrit does not know is refused. */
  async accountOf(claims: IdentityClaims): Promise<GerritAccount> {
    try {
      return await this.#d.gerrit.getAccount(claims.login);
    } catch (err) {
      if (err instanceof GerritError && err.httpStatus === 404) {
        throw new UnauthorizedError(`the identity provider says you are "${claims.login}", but Gerrit has no such account; rollgate acts only for Gerrit accounts`);
      }
      throw err;
    }
  }

  async #operator(who: Who, via: Operator['via']): Promise<Operator> {
    return { account: who.account, roles: await this.#roles(who), via };
  }

  async #roles(who: Who): Promise<RoleGrant[]> {
    const policy = this.#d.policy();
    let fromGerrit: RoleGrant[] = [];
    try {
      fromGerrit = rolesForGroups(policy.roles, await this.#groupsOf(who.account.accountId));
    } catch (err) {
      // reads go on while Gerrit is away; every action resolves roles again and fails then
      this.#d.logger.warn({ err, login: who.login }, 'could not read Gerrit groups of an operator; showing IdP roles only');
    }
    return mergeGrants(fromGerrit, rolesForIdpGroups(policy.idpRoles, who.idpGroups));
  }

  /**
   * Gerrit groups for showing roles, remembered for a few seconds so a page that polls does not
   * ask Gerrit each time. Actions never use these: they look the groups up again.
   */
  #groupsOf(accountId: number): Promise<readonly GerritGroup[]> {
    const now = Date.now();
    const cached = this.#groups.get(accountId);
    if (cached && cached.expires > now) return cached.groups;
    if (this.#groups.size >= CACHE_MAX) for (const [k, v] of this.#groups) if (v.expires <= now) this.#groups.delete(k);
    const groups = this.#d.gerrit.getAccountGroups(accountId);
    this.#groups.set(accountId, { expires: now + GROUPS_CACHE_MS, groups });
    groups.catch(() => this.#groups.delete(accountId));
    return groups;
  }

  #fromBearer(token: string): Promise<Who> {
    const key = createHash('sha256').update(token).digest('hex');
    const now = Date.now();
    const cached = this.#bearers.get(key);
    if (cached && cached.expires > now) return cached.who;
    if (this.#bearers.size >= CACHE_MAX) for (const [k, v] of this.#bearers) if (v.expires <= now) this.#bearers.delete(k);
    const who = this.#lookUpBearer(token);
    this.#bearers.set(key, { expires: now + (this.#d.bearerCacheMs ?? BEARER_CACHE_MS), who });
    // only an answer is remembered; a refusal or an IdP outage is asked again next time
    who.catch(() => this.#bearers.delete(key));
    return who;
  }

  async #lookUpBearer(token: string): Promise<Who> {
    let claims: IdentityClaims;
    try {
      claims = await this.#d.idp.userOfToken(token);
    } catch (err) {
      if (err instanceof UnauthorizedError) throw err;
      this.#d.logger.warn({ err }, 'checking a bearer token at the identity provider failed');
      throw new UnavailableError('the identity provider could not check the bearer token; try again later');
    }
    return { login: claims.login, account: await this.accountOf(claims), idpGroups: claims.groups };
  }
}

interface Who {
  readonly login: string;
  readonly account: GerritAccount;
  readonly idpGroups: readonly string[];
}

/** The operator of this request, or a 401 saying how to log in (or why the credentials sent did not do). */
export function requireOperator(ctx: Context): Operator {
  const state = ctx.state as AuthState;
  if (state.operator) return state.operator;
  throw new UnauthorizedError(state.authProblem ?? 'log in first: open /auth/login, or send "Authorization: Bearer <access token from the identity provider>"');
}
