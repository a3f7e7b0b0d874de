import type Koa from 'koa';
import type { Router } from '@koa/router';

/** One method and path the HTTP app answers, as registered (`/api/rollouts/:id`). */
export interface HttpRoute {
  readonly method: string;
  readonly path: string;
}

/**
 * Every route the app serves, read from the layers of the routers it mounted (@koa/router marks
 * its `routes()` middleware with the router), so a check over all routes cannot miss one that
 * was added later. Middleware-only layers (`router.use`) have no methods and are left out.
 */
export function routesOf(app: Koa): HttpRoute[] {
  const routes: HttpRoute[] = [];
  for (const middleware of app.middleware) {
    const router = (middleware as { router?: Router<unknown> }).router;
    if (!router) continue;
    for (const layer of router.stack) {
      // a RegExp path is listed as its source, so a check that cannot request it fails instead of skipping it
      for (const method of layer.methods) routes.push({ method, path: String(layer.path) });
    }
  }
  return routes;
}
