import Koa from 'koa';
import type { RolloutReads } from '../rollouts/rollout-reads.js';
import type { Logger } from '../log.js';
import { errorMiddleware } from './error-middleware.js';
import type { Readiness } from '../db/readiness.js';
import type { Metrics } from '../metrics.js';
import { auditRoutes, type AuditRouteDeps } from './routes/audit.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { hookRoutes, type WebhookOptions } from './routes/hooks.js';
import { rolloutRoutes } from './routes/rollouts.js';
import { securityHeaders } from './security-headers.js';
import { webPublicRoutes, webRoutes, type WebDeps } from './web/web-routes.js';
import { authRoutes } from './routes/auth.js';
import { rolloutActionRoutes } from './routes/rollout-actions.js';
import { stepTokenDiscoveryRoutes, type StepTokenPublisher } from './routes/step-token-discovery.js';
import type { ActionDeps } from '../actions/action-deps.js';
import { SessionCookies } from '../identity/session-cookie.js';
import type { Identity } from '../identity/identity.js';

export interface AppDeps {
  readonly rollouts: RolloutReads;
  readonly logger: Logger;
  /** Serves `GET /metrics` from this registry. */
  readonly metrics?: Metrics;
  /** Serves `GET /readyz` from this check. */
  readonly ready?: () => Promise<Readiness>;
  readonly webhooks: Omit<WebhookOptions, 'logger'>;
  /** The web page's view of the service (rollouts, login and the audit trail come from the other deps). */
  readonly web: Omit<WebDeps, 'rollouts' | 'loginRequired' | 'audit'>;
  /** Operator login (OIDC); absent when it is not configured, and then the API is read-only and open. */
  readonly identity?: Identity;
  /** Serves `GET /api/audit` to logged-in operators holding an `audit_readers` role. */
  readonly audit?: AuditRouteDeps;
  /** What the API's rollout actions act through (the decide stage's dependencies); absent without Gerrit REST. */
  readonly actions?: ActionDeps | undefined;
  /** Publishes the issuer of step identity tokens (discovery and JWKS, open); absent when step tokens are off. */
  readonly stepTokens?: StepTokenPublisher;
}

/** The request path as logged: the webhook secret may be its last segment (right or a near miss), so that segment never reaches a log. */
export function loggablePath(path: string): string {
  return path.replace(/^(\/hooks\/gerrit\/).+$/, '$1[redacted]');
}

/** Builds the HTTP app. Middleware order, top to bottom: request log, errors, security headers, who is calling (with login on), routes. */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  const identity = deps.identity;
  if (identity) app.keys = SessionCookies.signingKeys(identity.config.sessionSecret);
  // outermost, so refused requests are logged with the status the error middleware gave them
  app.use(async (ctx, next) => {
    const started = performance.now();
    await next();
    deps.logger.debug({ method: ctx.method, path: loggablePath(ctx.path), status: ctx.status, ms: Math.round(performance.now() - started) }, 'http request');
  });
  app.use(errorMiddleware);
  app.use(securityHeaders());
  if (identity) app.use(identity.resolver.middleware);
  const routers = [
    healthRoutes(deps.ready),
    ...(deps.stepTokens ? [stepTokenDiscoveryRoutes(deps.stepTokens)] : []),
    ...(deps.metrics ? [metricsRoutes(deps.metrics)] : []),
    // once people can log in, the rollouts API needs a login too
    rolloutRoutes(deps.rollouts, { loginRequired: identity !== undefined, output: deps.web.reads.output, logger: deps.logger }),
    rolloutActionRoutes({ decide: deps.actions, loginConfigured: identity !== undefined }),
    ...(identity ? [authRoutes(identity, deps.logger)] : []),
    ...(deps.audit ? [auditRoutes(deps.audit)] : []),
    hookRoutes({ ...deps.webhooks, logger: deps.logger }),
    webPublicRoutes(),
    webRoutes({ ...deps.web, rollouts: deps.rollouts, loginRequired: identity !== undefined, ...(deps.audit ? { audit: deps.audit } : {}) }),
  ];
  for (const router of routers) {
    app.use(router.routes()).use(router.allowedMethods());
  }
  app.on('error', (err: unknown) => deps.logger.error({ err }, 'http request failed'));
  return app;
}
