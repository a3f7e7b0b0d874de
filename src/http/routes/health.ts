import { Router } from '@koa/router';

/** Liveness: the process is up and serving HTTP. */
export function healthRoutes(): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  return router;
}
