import type { Router } from '@koa/router';
import { createRouter } from '../router.js';
import type { Context, Next } from 'koa';
import { AUDIT_KINDS } from '../../audit/audit-trail.js';
import type { DecisionLog } from '../../rollouts/decision-log.js';
import type { Policy } from '../../policy/policy-config.js';
import { NotFoundError, RollgateError } from '../../errors.js';
import { allowedActions } from '../../actions/allowed-actions.js';
import type { RolloutReads } from '../../rollouts/rollout-reads.js';
import type { AuthState } from '../../identity/operator-resolver.js';
import { requireAuditReader, type AuditRouteDeps } from '../routes/audit.js';
import { parseAuditPageQuery } from './audit-query.js';
import { parseRolloutId } from '../routes/rollouts.js';
import type { ConsoleReads } from '../../rollouts/console-reads.js';
import { CSS, ICON_SVG, LIVE_JS } from './assets.js';
import { auditPage } from './audit-page.js';
import type { Html } from './html.js';
import { refusedPage, type Viewer } from './layout.js';
import { rolloutPage } from './rollout-page.js';
import { rolloutsPage } from './rollouts-page.js';
import { parseRolloutsQuery, ROLLOUTS_QUERY_FIELDS } from './rollouts-query.js';
import { environmentsPage } from './environments-page.js';
import { intakePage, type IntakeHealth } from './intake-page.js';

export interface WebDeps {
  readonly rollouts: RolloutReads;
  readonly decisions: DecisionLog;
  /** The console's other reads: environments, intake, the people of a change. */
  readonly reads: ConsoleReads;
  /** The intake's live facts (stream, leader); absent: the intake page says they are not known. */
  readonly health?: IntakeHealth | undefined;
  readonly policy: () => Policy;
  /** The audit trail and who may read it, as `GET /api/audit` has them; absent: no audit page. */
  readonly audit?: AuditRouteDeps;
  /** Gerrit's URL, for links to changes; undefined until Gerrit is configured. */
  readonly gerritUrl: string | undefined;
  /**
   * Whether OIDC login is on. Then the pages, like the rollouts API, are for logged-in operators
   * only; without it they are read only and open, as the API is.
   */
  readonly loginRequired: boolean;
}

/** Output shown per attempt on the rollout page (its newest part; the whole is a link away). */
const PAGE_OUTPUT_BYTES = 64 * 1024;

const TITLES: Readonly<Record<number, string>> = { 400: 'Bad request', 401: 'Log in', 403: 'Not allowed', 404: 'Not found' };

/**
 * What the web page serves to anyone: `GET /` (a redirect to the rollouts) and the static assets.
 * Nothing here shows data, so these are kept apart from the pages, which all need a login.
 */
export function webPublicRoutes(): Router {
  const router = createRouter();
  router.get('/', (ctx) => ctx.redirect('/rollouts'));
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

/**
 * The web pages: `GET /rollouts`, `GET /rollouts/:id`, `GET /environments`, `GET /intake`, `GET /audit`. Pages are rendered on the
 * server from the same stores and checks the API uses; action buttons post to the API.
 */
export function webRoutes(deps: WebDeps): Router {
  const router = createRouter();
  const viewerOf = (ctx: Context): Viewer => ({ operator: (ctx.state as AuthState).operator, loginConfigured: deps.loginRequired, returnTo: ctx.originalUrl });
  const send = (ctx: Context, body: Html, status = 200) => {
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = body.toString();
  };
  /** The filter in the query as typed, to fill the form again (also when it was not valid). */
  const typed = (ctx: Context, ...names: string[]) => Object.fromEntries(names.map((n) => [n, typeof ctx.query[n] === 'string' ? ctx.query[n] : undefined]));
  router.use(async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      // a browser gets a page, not JSON; unexpected errors say nothing and are logged by the app
      const expose = err instanceof RollgateError && err.expose;
      if (!expose) ctx.app.emit('error', err, ctx);
      const status = err instanceof RollgateError ? err.status : 500;
      send(ctx, refusedPage(viewerOf(ctx), TITLES[status] ?? 'Something went wrong', expose ? (err as Error).message : 'internal error'), status);
    }
  });

  // the pages show what the API shows, to the same people: every route of this router, by
  // default, so a page added later cannot be left open by a list of paths that forgot it
  router.use(async (ctx: Context, next: Next) => {
    if (deps.loginRequired && !(ctx.state as AuthState).operator) {
      send(ctx, refusedPage(viewerOf(ctx), 'Log in', (ctx.state as AuthState).authProblem ?? 'Log in to see rollouts and act on them.'), 401);
      return;
    }
    await next();
  });

  router.get('/rollouts', async (ctx) => {
    const parsed = parseRolloutsQuery(ctx.query);
    const policy = deps.policy();
    const query = 'query' in parsed ? parsed.query : undefined;
    const rows = query ? await deps.rollouts.list(query) : [];
    // whether the links to the pages either side lead anywhere: one row is enough to know
    const exists = async (side: { before: number } | { after: number }) => query !== undefined && (await deps.rollouts.list({ ...query, before: undefined, after: undefined, ...side, limit: 1 })).length > 0;
    const first = rows[0];
    const last = rows[rows.length - 1];
    const problems = 'problems' in parsed ? parsed.problems : [];
    const inUse = await deps.reads.environments.namesInUse();
    send(
      ctx,
      rolloutsPage({
        viewer: viewerOf(ctx),
        rows,
        form: typed(ctx, ...ROLLOUTS_QUERY_FIELDS),
        problems,
        rules: [...new Set([...policy.rollouts.map((r) => r.name), ...inUse.rules])].sort(),
        environments: [...new Set([...policy.rollouts.map((r) => r.environment), ...inUse.environments])].sort(),
        newer: first !== undefined && (await exists({ after: first.id })),
        older: last !== undefined && (await exists({ before: last.id })),
        gerritUrl: deps.gerritUrl,
        now: new Date(),
      }),
      problems.length === 0 ? 200 : 400,
    );
  });

  router.get('/environments', async (ctx) => {
    const known = [...new Set(deps.policy().rollouts.map((r) => r.environment))];
    send(ctx, environmentsPage({ viewer: viewerOf(ctx), environments: await deps.reads.environments.environments(known), gerritUrl: deps.gerritUrl, now: new Date() }));
  });

  router.get('/intake', async (ctx) => {
    send(ctx, intakePage({ viewer: viewerOf(ctx), health: deps.health, record: await deps.reads.intake.record(), gerritUrl: deps.gerritUrl, now: new Date() }));
  });

  router.get('/rollouts/:id', async (ctx) => {
    const id = parseRolloutId(ctx.params.id);
    const rollout = id === undefined ? undefined : await deps.rollouts.get(id);
    if (!rollout) throw new NotFoundError(`There is no rollout ${ctx.params.id ?? ''}.`);
    const viewer = viewerOf(ctx);
    const policy = deps.policy();
    const steps = await deps.rollouts.steps(rollout.id);
    const output = await deps.reads.output.tails(rollout.id, PAGE_OUTPUT_BYTES);
    const decisions = (await deps.decisions.forChange(rollout.project, rollout.change_number)).filter((d) => d.rollout_id === rollout.id);
    const msg = typeof ctx.query.msg === 'string' && ctx.query.msg !== '' ? ctx.query.msg.slice(0, 2000) : undefined;
    send(
      ctx,
      rolloutPage({
        viewer,
        rollout,
        steps,
        attempts: { rolloutId: rollout.id, attempts: await deps.rollouts.attempts(rollout.id), chunks: output.chunks, lastChunkId: output.lastId },
        people: await deps.reads.people.of(rollout),
        decisions,
        workflow: policy.workflows[rollout.workflow],
        actions: viewer.operator ? allowedActions(policy, rollout, steps, { account: viewer.operator.account, roles: viewer.operator.roles }, decisions) : [],
        flash: msg,
        gerritUrl: deps.gerritUrl,
        now: new Date(),
      }),
    );
  });

  router.get('/audit', async (ctx) => {
    const viewer = viewerOf(ctx);
    if (!deps.audit || !viewer.operator) {
      send(ctx, refusedPage(viewer, 'Audit trail', 'The audit trail is for logged-in operators, and login is not configured (ROLLGATE_OIDC_*). `rollgate audit export` reads it from the database.'), 403);
      return;
    }
    requireAuditReader(viewer.operator, deps.audit.readers());
    const parsed = parseAuditPageQuery(ctx.query, AUDIT_KINDS);
    const query = 'query' in parsed ? parsed.query : undefined;
    const problem = 'problems' in parsed ? parsed.problems.join(' ') : undefined;
    const found = query ? await deps.audit.store.page(query) : { entries: [], next: null };
    send(ctx, auditPage({ viewer, kinds: AUDIT_KINDS, entries: found.entries, next: found.next, form: typed(ctx, 'kind', 'rollout'), problem, gerritUrl: deps.gerritUrl, now: new Date() }), problem === undefined ? 200 : 400);
  });

  return router;
}
