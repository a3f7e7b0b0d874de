import type { Router } from '@koa/router';
import { createRouter } from '../router.js';
import type { Readiness } from '../../db/readiness.js';

/**
 * Liveness (`/healthz`: the process is up and serving HTTP) and, when `ready` is given,
 * readiness (`/readyz`: 200 only when the database answers and its schema is current).
 */
export function healthRoutes(ready?: () => Promise<Readiness>): Router {
  const router = createRouter();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  if (ready) {
    router.get('/readyz', async (ctx) => {
      const r = await ready();
      ctx.status = r.ready ? 200 : 503;
      ctx.body = r.ready ? { status: 'ready' } : { status: 'not ready', problems: r.problems };
    });
  }
  return router;
}
