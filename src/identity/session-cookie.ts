import { createHmac } from 'node:crypto';
import type { Context } from 'koa';
import { z } from 'zod';
import type { PendingLogin } from './identity-provider.js';

/** The session cookie: a random id, signed, HttpOnly, SameSite=Lax. */
export const SESSION_COOKIE = 'rollgate_session';
/** A login in progress (state, nonce, PKCE verifier, where to go after); lives ten minutes. */
export const LOGIN_COOKIE = 'rollgate_login';
const LOGIN_TTL_MS = 10 * 60_000;

/**
 * The cookies of operator login, in one place. Both are signed with a key derived from the
 * session secret (Koa's `app.keys`), so a browser cannot forge or alter them. Cookies are
 * `Secure` when rollgate's public URL is https: it then sits behind a TLS proxy, so the request
 * rollgate itself sees may be plain http.
 */
export class SessionCookies {
  readonly #secure: boolean;
  readonly #ttlMs: number;
  readonly #csrfKey: Buffer;

  constructor(o: { readonly secret: string; readonly publicUrl: string | undefined; readonly sessionTtlMs: number }) {
    this.#secure = o.publicUrl?.startsWith('https:') ?? false;
    this.#ttlMs = o.sessionTtlMs;
    this.#csrfKey = derivedKey(o.secret, 'csrf');
  }

  /** The keys Koa signs cookies with (`app.keys`). */
  static signingKeys(secret: string): string[] {
    return [derivedKey(secret, 'cookies').toString('base64url')];
  }

  sessionId(ctx: Context): string | undefined {
    return ctx.cookies.get(SESSION_COOKIE, { signed: true }) || undefined;
  }

  setSession(ctx: Context, id: string): void {
    this.#set(ctx, SESSION_COOKIE, id, this.#ttlMs, '/');
  }

  clearSession(ctx: Context): void {
    this.#set(ctx, SESSION_COOKIE, null, 0, '/');
  }

  /**
   * The CSRF token of a session: an HMAC of its id, so it needs no storage, differs per session,
   * and cannot be computed without the session secret.
   */
  csrfToken(sessionId: string): string {
    return createHmac('sha256', this.#csrfKey).update(sessionId).digest('base64url');
  }

  setLogin(ctx: Context, login: PendingLogin & { readonly returnTo: string }): void {
    this.#set(ctx, LOGIN_COOKIE, Buffer.from(JSON.stringify(login)).toString('base64url'), LOGIN_TTL_MS, '/auth');
  }

  /** The login in progress, read once: the cookie is cleared, so a callback cannot be replayed with it. */
  takeLogin(ctx: Context): (PendingLogin & { readonly returnTo: string }) | undefined {
    const raw = ctx.cookies.get(LOGIN_COOKIE, { signed: true });
    this.#set(ctx, LOGIN_COOKIE, null, 0, '/auth');
    if (!raw) return undefined;
    try {
      const parsed = PendingLoginSchema.safeParse(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  #set(ctx: Context, name: string, value: string | null, maxAge: number, path: string): void {
    // the cookies module refuses Secure on a connection it thinks is plain; behind TLS it is not
    if (this.#secure) ctx.cookies.secure = true;
    ctx.cookies.set(name, value, { signed: true, httpOnly: true, sameSite: 'lax', secure: this.#secure, path, ...(value === null ? { expires: new Date(0) } : { maxAge }) });
  }
}

const PendingLoginSchema = z.object({ state: z.string().min(1), nonce: z.string().min(1), verifier: z.string().min(1), returnTo: z.string().startsWith('/') });

function derivedKey(secret: string, purpose: string): Buffer {
  return createHmac('sha256', secret).update(`rollgate ${purpose}`).digest();
}
