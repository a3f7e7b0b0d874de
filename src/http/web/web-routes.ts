import { Router } from '@koa/router';
import type { Context, Next } from 'koa';
import type { DecisionLog } from '../../decide/decision-log.js';
import type { Policy } from '../../decide/policy-config.js';
import { NotFoundError, RollgateError } from '../../errors.js';
import { allowedActions } from '../../execute/allowed-actions.js';
import type { RolloutStore } from '../../execute/rollout-store.js';
import type { AuthState } from '../../identity/operator-resolver.js';
import { parseListQuery, parseRolloutId } from '../routes/rollouts.js';
import { CSS, ICON_SVG, LIVE_JS } from './assets.js';
import { html, type Html } from './html.js';
import { page, refusedPage, type Viewer } from './layout.js';
import { rolloutPage } from './rollout-page.js';
import { rolloutsPage } from './rollouts-page.js';

export interface WebDeps {
  readonly rollouts: RolloutStore;
  readonly decisions: DecisionLog;
  readonly policy: () => Policy;
  /** Gerrit's URL, for links to changes; undefined until Gerrit is configured. */
  readonly gerritUrl: string | undefined;
  /**
   * Whether OIDC login is on. Then the pages, like the rollouts API, are for logged-in operators
   * only; without it they are read only and open, as the API is.
   */
  readonly loginRequired: boolean;
}

/**
 * The web page: `GET /rollouts` (also `/`), `GET /rollouts/:id` and the static assets. Pages are
 * rendered on the server from the same stores the API reads; action buttons post to the API.
 */
export function webRoutes(deps: WebDeps): Router {
  const router = new Router();
  const viewerOf = (ctx: Context): Viewer => ({ operator: (ctx.state as AuthState).operator, loginConfigured: deps.loginRequired, returnTo: ctx.originalUrl });
  const send = (ctx: Context, body: Html, status = 200) => {
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = body.toString();
  };

  router.use(async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      // a browser gets a page, not JSON; unexpected errors say nothing and are logged by the app
      const expose = err instanceof RollgateError && err.expose;
      if (!expose) ctx.app.emit('error', err, ctx);
      const status = err instanceof RollgateError ? err.status : 500;
      send(ctx, page({ title: 'Error', viewer: viewerOf(ctx), body: html`<h1>${status === 404 ? 'Not found' : 'Something went wrong'}</h1><p class="problem">${expose ? (err as Error).message : 'internal error'}</p>` }), status);
    }
  });

  router.get('/', (ctx) => ctx.redirect('/rollouts'));

  // the pages show what the API shows, to the same people
  const pages = ['/rollouts', '/rollouts/:id', '/audit'];
  router.use(pages, async (ctx: Context, next: Next) => {
    if (deps.loginRequired && !(ctx.state as AuthState).operator) {
      const problem = (ctx.state as AuthState).authProblem;
      send(ctx, refusedPage(viewerOf(ctx), 'Log in', problem ?? 'Log in to see rollouts and act on them.'), 401);
      return;
    }
    await next();
  });

  router.get('/rollouts', async (ctx) => {
    const query = parseListQuery(ctx.query);
    const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
    const form = { status: text(ctx.query.status), project: text(ctx.query.project), change: text(ctx.query.change) };
    const rows = 'filter' in query ? await deps.rollouts.list(query.filter) : [];
    const problem = 'problem' in query ? query.problem : undefined;
    send(ctx, rolloutsPage({ viewer: viewerOf(ctx), rows, form, problem, gerritUrl: deps.gerritUrl, now: new Date() }), problem === undefined ? 200 : 400);
  });

  router.get('/rollouts/:id', async (ctx) => {
    const id = parseRolloutId(ctx.params.id);
    const rollout = id === undefined ? undefined : await deps.rollouts.get(id);
    if (!rollout) throw new NotFoundError(`There is no rollout ${ctx.params.id ?? ''}.`);
    const viewer = viewerOf(ctx);
    const policy = deps.policy();
    const steps = await deps.rollouts.steps(rollout.id);
    const decisions = (await deps.decisions.forChange(rollout.project, rollout.change_number)).filter((d) => d.rollout_id === rollout.id);
    const roles = viewer.operator?.roles.map((g) => g.role) ?? [];
    const msg = typeof ctx.query.msg === 'string' && ctx.query.msg !== '' ? ctx.query.msg.slice(0, 2000) : undefined;
    send(
      ctx,
      rolloutPage({
        viewer,
        rollout,
        steps,
        decisions,
        workflow: policy.workflows[rollout.workflow],
        actions: viewer.operator ? allowedActions(policy, rollout, steps, roles) : [],
        flash: msg,
        gerritUrl: deps.gerritUrl,
        now: new Date(),
      }),
    );
  });

  for (const [file, type, body] of [
    ['rollgate.css', 'text/css; charset=utf-8', CSS],
    ['live.js', 'text/javascript; charset=utf-8', LIVE_JS],
    ['icon.svg', 'image/svg+xml', ICON_SVG],
  ] as const) {
    router.get(`/assets/${file}`, (ctx) => {
      ctx.type = type;
      ctx.set('Cache-Control', 'public, max-age=300');
      ctx.body = body;
    });
  }

  return router;
}
