import type { Context, Next } from 'koa';

/**
 * Headers that keep rollgate's pages from being framed, sniffed or made to run foreign script.
 * The policy allows only rollgate's own script and stylesheet (no inline script or style), forms
 * that post to rollgate (and to the IdP's origin, where logging out may end up), and no framing.
 */
export function securityHeaders(formActionOrigins: readonly string[] = []) {
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    `form-action 'self'${formActionOrigins.map((o) => ` ${o}`).join('')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
  return async function setSecurityHeaders(ctx: Context, next: Next): Promise<void> {
    // set before the routes run, so error answers carry them too
    ctx.set('Content-Security-Policy', csp);
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'same-origin');
    await next();
  };
}
