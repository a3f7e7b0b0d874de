import { Router } from '@koa/router';

/**
 * The one way rollgate makes a router. Routes are case-sensitive: @koa/router matches routes
 * case-insensitively by default but a router's own `use()` guard with a prefix case-sensitively,
 * so `/api/Rollouts` reached the route and skipped the login guard. With `sensitive`, a path
 * either matches a route and every guard on its router, or nothing (404). Trailing slashes stay
 * optional (`strict` off): route and guard agree on them, and `strict` would turn a prefixed `/`
 * route into `/prefix/` only.
 */
export function createRouter<StateT = object>(o: { readonly prefix?: string } = {}): Router<StateT> {
  return new Router<StateT>({ ...(o.prefix !== undefined ? { prefix: o.prefix } : {}), sensitive: true, strict: false });
}
