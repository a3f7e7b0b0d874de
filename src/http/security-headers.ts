import type { Context, Next } from 'koa';

/**
 * Headers that keep rollgate's pages from being framed, sniffed or made to run foreign script.
 * The policy allows only rollgate's own script and stylesheet (no inline script or style), forms
 * that post to rollgate, and no framing. (Logging in is a link to the IdP, not a form post.)
 */
export function securityHeaders() {
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
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
