import { randomUUID } from 'node:crypto';
import type { Router } from '@koa/router';
import { createRouter } from '../router.js';
import type { Context } from 'koa';
import { z } from 'zod';
import type { ActionDeps } from '../../actions/action-deps.js';
import { actOnRollout, type ActingPerson } from '../../actions/rollout-actions.js';
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError, RollgateError, UnauthorizedError, UnavailableError } from '../../errors.js';
import { ROLLOUT_VERBS, type RolloutVerb } from '../../policy/who-may-act.js';
import { CSRF_HEADER, presentedCsrf, requireCsrf } from '../../identity/csrf.js';
import type { Operator } from '../../identity/operator.js';
import { requireOperator } from '../../identity/operator-resolver.js';
import { readFields } from '../form-body.js';
import { parseRolloutId, rolloutView } from './rollouts.js';

export interface RolloutActionOptions {
  /** The decide stage's dependencies; absent until Gerrit REST is configured (roles come from Gerrit). */
  readonly decide: ActionDeps | undefined;
  /** Whether OIDC login is configured; without it nobody can be known, so nothing can be done. */
  readonly loginConfigured: boolean;
}

const BodySchema = z.object({
  justification: z.string({ error: 'required: say why (it is posted on the change and kept in the audit trail)' }).trim().min(1, 'required: say why (it is posted on the change and kept in the audit trail)').max(2000, 'at most 2000 characters'),
});

/**
 * `POST /api/rollouts/:id/{approve,deny,cancel,retry,rollback}` for logged-in operators: a JSON
 * body `{"justification": "…"}` or a form (`justification=…&_csrf=…`). A cookie session must send
 * its CSRF token; a bearer token needs none. The action goes through the same code as `/rollout`
 * comments. JSON answers: 200 `{ok, message, rollout}`, 403 naming the role needed (or the
 * no-self-approval rule), 409 when there is nothing to do in the rollout's state. A form posted
 * by a browser is answered with 303 to the rollout's page, the message in `?msg=`.
 */
export function rolloutActionRoutes(o: RolloutActionOptions): Router {
  const router = createRouter({ prefix: '/api/rollouts' });

  // one route per verb, not `/:id/:verb`: a pattern that takes any last segment would claim
  // every path of that shape (`/api/rollouts/1/output`) and answer other methods 405
  for (const verb of ROLLOUT_VERBS) router.post(`/:id/${verb}`, (ctx) => act(ctx, verb));

  async function act(ctx: Context & { params: Record<string, string | undefined> }, verb: RolloutVerb): Promise<void> {
    const { fields, form } = await readFields(ctx);
    const id = parseRolloutId(ctx.params.id);
    const page = form && ctx.accepts(['json', 'html']) === 'html' ? `/rollouts/${id ?? ''}` : undefined;
    try {
      if (!o.loginConfigured) throw new UnavailableError('operator login is not configured (ROLLGATE_OIDC_ISSUER and the rest); act with /rollout comments on the change instead');
      const operator = requireOperator(ctx);
      requireCsrf(operator, presentedCsrf(ctx.get(CSRF_HEADER), fields));
      const body = BodySchema.safeParse(fields);
      if (!body.success) throw new BadRequestError(body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
      if (id === undefined) throw new BadRequestError(`rollout id must be a positive number, got "${ctx.params.id}"`);
      if (!o.decide) throw new UnavailableError('Gerrit REST is not configured, so roles cannot be checked; nothing was changed');
      const rollout = await o.decide.reads.get(id);
      if (!rollout) throw new NotFoundError(`no rollout ${id}`);

      const result = await actOnRollout(o.decide, rollout, verb, personOf(operator), body.data.justification);
      const message = result.message.replace(/^rollgate: /, '');
      if (result.outcome === 'forbidden') throw new ForbiddenError(message);
      if (result.outcome === 'nothing') throw new ConflictError(message);
      if (page) return seeOther(ctx, page, message);
      ctx.body = { ok: true, message, rollout: rolloutView((await o.decide.reads.get(id)) ?? rollout) };
    } catch (err) {
      if (!page || !(err instanceof RollgateError) || !err.expose) throw err;
      // a browser's form post comes back to the page (or to the login), with what happened
      if (err instanceof UnauthorizedError) return seeOther(ctx, `/auth/login?return_to=${encodeURIComponent(page)}`);
      seeOther(ctx, page, err.message);
    }
  }

  return router;
}

/** The operator as the shared actions know people; their IdP roles travel along, Gerrit roles are looked up again. */
function personOf(operator: Operator): ActingPerson {
  return { account: operator.account, idpGrants: operator.roles.filter((g) => g.via.startsWith('idp:')), source: 'api', key: `api:${randomUUID()}`, eventId: null };
}

function seeOther(ctx: Context, path: string, message?: string): void {
  ctx.redirect(message === undefined ? path : `${path}?msg=${encodeURIComponent(message)}`);
  ctx.status = 303;
}
