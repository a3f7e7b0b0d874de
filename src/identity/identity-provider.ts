import * as oidc from 'openid-client';
import { isLoopbackHost, type OidcConfig } from '../config.js';
import { BadRequestError, UnauthorizedError } from '../errors.js';
import { claimsSchema, type IdentityClaims } from './identity-claims.js';

/** What a login in progress must remember between `/auth/login` and `/auth/callback`. */
export interface PendingLogin {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
}

/**
 * The calls rollgate makes to its OpenID provider. `OpenIdProvider` implements them with
 * openid-client; openid-client's types stay in this file.
 */
export interface IdentityProvider {
  /** The provider's authorization URL for a new login (code flow, PKCE S256, state and nonce). */
  startLogin(): Promise<{ readonly url: string; readonly pending: PendingLogin }>;
  /** Checks the callback (state, code, ID token and nonce), and returns who logged in. */
  finishLogin(callbackUrl: URL, pending: PendingLogin): Promise<IdentityClaims>;
  /** Whose bearer access token this is, as the provider's userinfo endpoint says, once introspection shows it was issued for rollgate; `UnauthorizedError` otherwise. */
  userOfToken(accessToken: string): Promise<IdentityClaims>;
  /** A token for rollgate itself (client-credentials grant), for a workflow step. */
  clientCredentials(request: { readonly audience?: string | undefined; readonly scope?: string | undefined }): Promise<string>;
  /** Revokes such a token once its step attempt has ended; nothing where the provider offers no revocation. */
  revoke(token: string): Promise<void>;
}

/**
 * openid-client against the configured issuer. Discovery happens on first use, not at start, so
 * an IdP that is down at start delays logins rather than rollgate; a failed discovery is
 * retried by the next call.
 */
export class OpenIdProvider implements IdentityProvider {
  readonly #config: OidcConfig;
  readonly #claims: ReturnType<typeof claimsSchema>;
  #discovered: Promise<oidc.Configuration> | undefined;

  constructor(config: OidcConfig) {
    this.#config = config;
    this.#claims = claimsSchema(config.accountClaim, config.groupsClaim);
  }

  async startLogin(): Promise<{ url: string; pending: PendingLogin }> {
    const config = await this.#client();
    const pending = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier() };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.#config.redirectUrl,
      scope: this.#config.scopes,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: 'S256',
    });
    return { url: url.toString(), pending };
  }

  async finishLogin(callbackUrl: URL, pending: PendingLogin): Promise<IdentityClaims> {
    const config = await this.#client();
    try {
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce });
      const idToken = tokens.claims();
      // many providers put groups and usernames only in userinfo; the ID token's subject must match
      const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, idToken?.sub ?? oidc.skipSubjectCheck);
      return this.#parse({ ...idToken, ...userinfo }, 'the ID token and userinfo');
    } catch (err) {
      // a refused, replayed or tampered callback (wrong state, used code, bad ID token): the browser's problem
      if (isProtocolError(err)) throw new BadRequestError(`the login could not be completed: ${problemOf(err as Error)}; start again at /auth/login`);
      throw err;
    }
  }

  async userOfToken(accessToken: string): Promise<IdentityClaims> {
    const config = await this.#client();
    await this.#checkIssuedForRollgate(config, accessToken);
    let userinfo: oidc.UserInfoResponse;
    try {
      userinfo = await oidc.fetchUserInfo(config, accessToken, oidc.skipSubjectCheck);
    } catch (err) {
      // the provider answered and said no; anything else (unreachable, 5xx) is not the caller's fault
      if (err instanceof oidc.WWWAuthenticateChallengeError || (err instanceof oidc.ResponseBodyError && err.status < 500)) {
        throw new UnauthorizedError('the identity provider did not accept the bearer token (expired, revoked, or not an access token it issued for a person)');
      }
      throw err;
    }
    return this.#parse(userinfo, "the bearer token's userinfo");
  }

  /**
   * userinfo answers for any live token the provider issued, whichever application it was issued
   * to; a token some other app got for a person must not act on rollouts as that person. The
   * provider's introspection says which client the token was issued to: it must be rollgate's.
   */
  async #checkIssuedForRollgate(config: oidc.Configuration, accessToken: string): Promise<void> {
    if (config.serverMetadata().introspection_endpoint === undefined) {
      throw new UnauthorizedError('bearer tokens are refused: the identity provider publishes no token introspection endpoint, so rollgate cannot check which application a token was issued to; log in instead');
    }
    let introspection: oidc.IntrospectionResponse;
    try {
      introspection = await oidc.tokenIntrospection(config, accessToken);
    } catch (err) {
      if (err instanceof oidc.ResponseBodyError && err.status < 500) {
        throw new UnauthorizedError(`the identity provider would not say whom the bearer token was issued to (${err.error}); rollgate's client needs permission to introspect tokens`);
      }
      throw err;
    }
    if (!introspection.active) {
      throw new UnauthorizedError('the identity provider did not accept the bearer token (expired, revoked, or not an access token it issued for a person)');
    }
    if (introspection.client_id === this.#config.clientId) return;
    throw new UnauthorizedError(`the bearer token was issued to ${introspection.client_id ? `client ${introspection.client_id}` : 'another application'}, not to rollgate: use a token issued to client ${this.#config.clientId}`);
  }

  async clientCredentials(request: { audience?: string | undefined; scope?: string | undefined }): Promise<string> {
    const parameters: Record<string, string> = {};
    if (request.scope) parameters.scope = request.scope;
    if (request.audience) {
      // RFC 8707 says `resource` (an absolute URI); Auth0 and others read `audience`
      parameters.audience = request.audience;
      if (URL.canParse(request.audience)) parameters.resource = request.audience;
    }
    const tokens = await oidc.clientCredentialsGrant(await this.#client(), parameters);
    return tokens.access_token;
  }

  /** Revokes an access token at the provider's revocation endpoint; nothing where it publishes none. */
  async revoke(token: string): Promise<void> {
    const config = await this.#client();
    if (!config.serverMetadata().revocation_endpoint) return;
    await oidc.tokenRevocation(config, token, { token_type_hint: 'access_token' });
  }

  #parse(claims: Record<string, unknown>, where: string): IdentityClaims {
    const parsed = this.#claims.safeParse(claims);
    if (!parsed.success) throw new UnauthorizedError(`${where} from the identity provider: ${parsed.error.issues.map((i) => `claim "${i.path.join('.')}": ${i.message}`).join('; ')}`);
    return parsed.data;
  }

  #client(): Promise<oidc.Configuration> {
    const issuer = new URL(this.#config.issuer);
    // config.ts allows http only on loopback; openid-client must be told so explicitly
    const execute = issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname) ? [oidc.allowInsecureRequests] : [];
    this.#discovered ??= oidc.discovery(issuer, this.#config.clientId, undefined, oidc.ClientSecretBasic(this.#config.clientSecret), { execute, timeout: 10 }).catch((err: unknown) => {
      this.#discovered = undefined;
      throw err;
    });
    return this.#discovered;
  }
}

/** openid-client's errors about what the provider or the browser sent carry an `OAUTH_…` code. */
function isProtocolError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('OAUTH_');
}

/** openid-client says "invalid response encountered" and keeps what was wrong in `cause`, or the provider's `error` in fields. */
function problemOf(err: Error): string {
  if (err instanceof oidc.ResponseBodyError) return `the identity provider said ${err.error}${err.error_description ? ` (${err.error_description})` : ''}`;
  return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
}
