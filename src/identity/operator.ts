import type { RoleGrant } from '../policy/roles.js';
import type { GerritAccount } from '../gerrit/gerrit-client.js';

/**
 * A person acting through the HTTP API or the web page, once logged in through OpenID Connect
 * (a session cookie) or with a bearer token from the same IdP. Their roles come from the same
 * role map as Gerrit votes: their Gerrit account's groups and, where `policies/roles.yaml` maps
 * them, their IdP group claims (`via` is then `idp:<group>`).
 */
export interface Operator {
  /** The Gerrit account the identity maps to (by username or email claim). */
  readonly account: GerritAccount;
  readonly roles: readonly RoleGrant[];
  readonly via: 'session' | 'bearer';
  /** Cookie sessions only: forms and API calls made with the cookie must send it back. */
  readonly csrfToken?: string;
}

/** What authentication middleware leaves on `ctx.state` for routes and pages. */
export interface OperatorState {
  operator?: Operator;
}
