import type { Router } from '@koa/router';
import { createRouter } from '../router.js';
import type { Context } from 'koa';
import { BadRequestError, UnauthorizedError } from '../../errors.js';
import { readBody } from '../read-body.js';
import { sameSecret } from '../../identity/same-secret.js';
import type { NewEvent } from '../../db/schema.js';
import type { Logger } from '../../log.js';

export interface WebhookOptions {
  /** Stores a webhook body the way the intake stores a stream line (the intake stage passes itself). */
  readonly intake: { add(text: string, source: 'webhook'): Promise<{ stored: boolean; row: NewEvent }> };
  readonly logger: Logger;
  /** The shared secret; absent means the webhook intake is off. */
  readonly secret: string | undefined;
  readonly maxBytes: number;
}

/**
 * `POST /hooks/gerrit`: the webhooks plugin's deliveries, the same JSON as stream-events. The
 * plugin cannot sign requests, so the sender proves itself with the shared secret, as the last
 * path segment (`/hooks/gerrit/<secret>`), a `token` query parameter, or the HTTP Basic password;
 * it is compared in constant time. Accepted bodies go through the same intake as the stream
 * (stored first, dedup by key); nothing a webhook says is trusted without Gerrit REST later.
 */
export function hookRoutes(o: WebhookOptions): Router {
  const router = createRouter({ prefix: '/hooks/gerrit' });
  const handler = async (ctx: Context) => {
    if (o.secret === undefined) {
      ctx.status = 404;
      ctx.body = { error: 'the webhook intake is off: set ROLLGATE_WEBHOOK_SECRET_FILE or ROLLGATE_WEBHOOK_SECRET', code: 'not_found' };
      return;
    }
    if (!sameSecret(presentedSecret(ctx), o.secret)) {
      o.logger.warn({ ip: ctx.ip, path: '/hooks/gerrit' }, 'webhook refused: wrong or missing secret');
      throw new UnauthorizedError('a valid webhook secret is required');
    }
    if (!ctx.is('application/json')) throw new BadRequestError('the body must be application/json (a Gerrit event)');
    const text = await readBody(ctx, o.maxBytes);
    const { stored, row } = await o.intake.add(text, 'webhook');
    if (row.status === 'rejected') {
      ctx.status = 400;
      ctx.body = { error: `event rejected (kept for inspection): ${row.reason}`, code: 'bad_event' };
      return;
    }
    ctx.status = 202;
    ctx.body = { stored, duplicate: !stored, type: row.type };
  };
  router.post('/', handler);
  router.post('/:secret', handler);
  return router;
}

function presentedSecret(ctx: Context): string | undefined {
  const fromPath = typeof ctx.params?.secret === 'string' ? ctx.params.secret : undefined;
  const fromQuery = typeof ctx.query.token === 'string' ? ctx.query.token : undefined;
  const auth = ctx.get('authorization');
  const fromBasic = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':').slice(1).join(':') : undefined;
  return fromPath ?? fromQuery ?? fromBasic;
}
