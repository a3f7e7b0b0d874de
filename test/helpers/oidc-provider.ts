import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { errors as providerErrors, type Configuration } from 'oidc-provider';
import * as client from 'openid-client';
import { CookieJar } from './cookie-jar.js';

/**
 * A real OpenID provider (`oidc-provider`) on loopback, for tests of rollgate's login, bearer
 * tokens and step credentials. It has one client for rollgate (authorization code with PKCE, and
 * client credentials), accounts whose claims carry `preferred_username`, `email` and a `groups`
 * claim (like a Keycloak client with a group membership mapper), and the provider's own
 * development login and consent pages (any password is accepted).
 *
 * ```ts
 * const idp = await startTestIdp({ redirectUrl: 'http://127.0.0.1:8787/auth/callback' });
 * const cookie = await idp.login(rollgateUrl, 'alice');            // a rollgate session
 * const token = await idp.accessToken('alice');                    // a token for scripts
 * ```
 *
 * The web page's browser tests drive the same pages with Chromium: open `<rollgate>/auth/login`,
 * fill `input[name=login]` (any `input[name=password]`), submit, then press the consent button.
 */
export interface IdpUser {
  readonly login: string;
  readonly email: string;
  readonly groups: readonly string[];
  /** The `email_verified` claim; true unless a test needs a provider that did not verify the address. */
  readonly emailVerified?: boolean;
}

export interface TestIdp {
  /** The issuer URL, e.g. http://127.0.0.1:41234 */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** rollgate's settings for this provider (besides ROLLGATE_PUBLIC_URL / ROLLGATE_OIDC_REDIRECT_URL). */
  readonly settings: Readonly<Record<string, string>>;
  /**
   * Logs `login` in to the rollgate at `rollgateUrl` as a browser would: rollgate's
   * `/auth/login`, the provider's login and consent pages, rollgate's callback. Returns the
   * `Cookie` header value that carries the rollgate session, and where rollgate sent the browser.
   */
  login(rollgateUrl: string, login: string, returnTo?: string): Promise<{ readonly cookie: string; readonly location: string }>;
  /** Walks the provider's pages for `authorizationUrl` until it redirects away; returns that redirect (the callback URL with code and state). */
  authorize(authorizationUrl: string, login: string): Promise<string>;
  /** An access token for `login`, as a script would get one (authorization code with PKCE, as rollgate's client unless `clientId` names another). */
  accessToken(login: string, clientId?: string): Promise<string>;
  /** What the provider's introspection endpoint says about a token (`active`, `client_id`, `aud`, …). */
  introspect(token: string): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export const IDP_USERS: readonly IdpUser[] = [
  { login: 'alice', email: 'alice@example.com', groups: ['staff'] },
  { login: 'bob', email: 'bob@example.com', groups: ['staff'] },
  { login: 'carol', email: 'carol@example.com', groups: [] },
];

/** A second application registered at the test provider, whose tokens rollgate must refuse. */
export const OTHER_CLIENT_ID = 'other-app';

/** A resource server steps may ask tokens for (`credentials.oidc.audience`). */
export const TEST_AUDIENCE = 'https://deployer.example/api';

export async function startTestIdp(options: { readonly redirectUrl: string; readonly users?: readonly IdpUser[] }): Promise<TestIdp> {
  const users = new Map((options.users ?? IDP_USERS).map((u) => [u.login, u]));
  const clientId = 'rollgate';
  const clientSecret = 'test-idp-client-secret-0123456789';
  // the port must be known before the provider is built, since it is part of the issuer
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // a second redirect URL for accessToken(): scripts never need rollgate's callback
  const scriptRedirect = `${issuer}/script-callback`;

  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [options.redirectUrl, scriptRedirect],
        grant_types: ['authorization_code', 'client_credentials'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'openid profile email deploy',
      },
      {
        // another application at the same provider: its tokens are valid at userinfo, but not for rollgate
        client_id: OTHER_CLIENT_ID,
        client_secret: 'other-app-client-secret-0123456789',
        redirect_uris: [scriptRedirect],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'openid profile email',
      },
    ],
    async findAccount(_ctx, id) {
      const user = users.get(id);
      if (!user) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, preferred_username: user.login, email: user.email, email_verified: user.emailVerified ?? true, groups: [...user.groups] }) };
    },
    claims: { openid: ['sub'], profile: ['preferred_username', 'groups'], email: ['email', 'email_verified'] },
    scopes: ['openid', 'profile', 'email', 'deploy'],
    pkce: { required: () => true },
    cookies: { keys: ['test-idp-cookie-key-0123456789abcdef'] },
    ttl: { AccessToken: 600, IdToken: 600, ClientCredentials: 600, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600 },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      // rollgate revokes a step's client-credentials token when the attempt ends
      revocation: { enabled: true },
      // rollgate's own client may introspect any token here, so tests can check what a step received
      introspection: { enabled: true, allowedPolicy: async () => true },
      resourceIndicators: {
        enabled: true,
        // opaque tokens, so introspection can say what a step was given (audience, client, scope)
        getResourceServerInfo: async (_ctx, resource) => {
          if (resource !== TEST_AUDIENCE) throw new providerErrors.InvalidTarget(`unknown resource ${resource}`);
          return { scope: 'deploy', audience: resource, accessTokenFormat: 'opaque' };
        },
      },
    },
  };
  const provider = new Provider(issuer, configuration);
  server.on('request', provider.callback());

  const authorize = async (authorizationUrl: string, login: string): Promise<string> => {
    const jar = new CookieJar();
    let url = authorizationUrl;
    for (let hop = 0; hop < 20; hop++) {
      const res = await fetch(url, { redirect: 'manual', headers: jar.header() });
      jar.take(res);
      if (res.status >= 300 && res.status < 400) {
        const next = new URL(res.headers.get('location')!, url).toString();
        if (!next.startsWith(issuer) || next.startsWith(scriptRedirect)) return next;
        url = next;
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) throw new Error(`the provider answered ${res.status} at ${url}: ${html.slice(0, 300)}`);
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
      if (!action || !prompt) throw new Error(`no login or consent form at ${url}`);
      const form: Record<string, string> = prompt === 'login' ? { prompt, login, password: 'any' } : { prompt };
      const submitted = await fetch(new URL(action, url), { method: 'POST', redirect: 'manual', headers: { ...jar.header(), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
      jar.take(submitted);
      if (submitted.status < 300 || submitted.status >= 400) throw new Error(`the provider answered ${submitted.status} to the ${prompt} form: ${(await submitted.text()).slice(0, 300)}`);
      url = new URL(submitted.headers.get('location')!, url).toString();
    }
    throw new Error('too many redirects at the provider');
  };

  const scriptClients = new Map<string, Promise<client.Configuration>>();
  const secrets: Record<string, string> = { [clientId]: clientSecret, [OTHER_CLIENT_ID]: 'other-app-client-secret-0123456789' };
  const asScript = (id = clientId) => {
    let c = scriptClients.get(id);
    if (!c) scriptClients.set(id, (c = client.discovery(new URL(issuer), id, undefined, client.ClientSecretBasic(secrets[id]!), { execute: [client.allowInsecureRequests] })));
    return c;
  };

  return {
    issuer,
    clientId,
    clientSecret,
    settings: { ROLLGATE_OIDC_ISSUER: issuer, ROLLGATE_OIDC_CLIENT_ID: clientId, ROLLGATE_OIDC_CLIENT_SECRET: clientSecret },
    authorize,
    async login(rollgateUrl, login, returnTo = '/') {
      const jar = new CookieJar();
      const start = await fetch(`${rollgateUrl}/auth/login?return_to=${encodeURIComponent(returnTo)}`, { redirect: 'manual' });
      jar.take(start);
      if (start.status !== 302) throw new Error(`rollgate's /auth/login answered ${start.status}: ${await start.text()}`);
      const callback = await authorize(start.headers.get('location')!, login);
      const done = await fetch(callback, { redirect: 'manual', headers: jar.header() });
      jar.take(done);
      if (done.status !== 302 && done.status !== 303) throw new Error(`rollgate's callback answered ${done.status}: ${await done.text()}`);
      return { cookie: jar.header().cookie ?? '', location: done.headers.get('location') ?? '' };
    },
    async accessToken(login, asClient = clientId) {
      const config = await asScript(asClient);
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: scriptRedirect,
        scope: 'openid profile email',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
      });
      const back = await authorize(url.toString(), login);
      const tokens = await client.authorizationCodeGrant(config, new URL(back), { pkceCodeVerifier: verifier, expectedState: state, idTokenExpected: true });
      return tokens.access_token;
    },
    async introspect(token) {
      return { ...(await client.tokenIntrospection(await asScript(), token)) };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
