import type { Kysely } from 'kysely';
import type { OidcConfig } from '../config.js';
import type { Database } from '../db/schema.js';
import type { Policy } from '../policy/policy-config.js';
import type { GerritClient } from '../gerrit/gerrit-client.js';
import type { Logger } from '../log.js';
import type { IdentityProvider } from './identity-provider.js';
import { OperatorResolver } from './operator-resolver.js';
import { SessionCookies } from './session-cookie.js';
import { SessionStore } from './session-store.js';

/** Operator login, as the HTTP app uses it: the IdP, sessions, their cookies, and the middleware. */
export interface Identity {
  readonly config: OidcConfig;
  readonly idp: IdentityProvider;
  readonly sessions: SessionStore;
  readonly cookies: SessionCookies;
  readonly resolver: OperatorResolver;
}

/** Wires operator login from the OIDC settings; Gerrit REST maps logins to accounts. */
export function createIdentity(o: {
  readonly config: OidcConfig;
  readonly idp: IdentityProvider;
  readonly publicUrl: string | undefined;
  readonly db: Kysely<Database>;
  readonly gerrit: GerritClient;
  readonly policy: () => Policy;
  readonly logger: Logger;
}): Identity {
  const idp = o.idp;
  const sessions = new SessionStore(o.db);
  const cookies = new SessionCookies({ secret: o.config.sessionSecret, publicUrl: o.publicUrl, sessionTtlMs: o.config.sessionTtlMs });
  const resolver = new OperatorResolver({ sessions, cookies, idp, gerrit: o.gerrit, policy: o.policy, logger: o.logger });
  return { config: o.config, idp, sessions, cookies, resolver };
}
