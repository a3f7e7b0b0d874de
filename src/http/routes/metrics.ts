import type { Router } from '@koa/router';
import { createRouter } from '../router.js';
import type { Metrics } from '../../metrics.js';

/** `GET /metrics`: Prometheus text exposition of this instance's registry. */
export function metricsRoutes(metrics: Metrics): Router {
  const router = createRouter();
  router.get('/metrics', async (ctx) => {
    const { contentType, body } = await metrics.scrape();
    ctx.type = contentType;
    ctx.body = body;
  });
  return router;
}
