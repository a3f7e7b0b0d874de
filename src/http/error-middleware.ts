import type { Context, Next } from 'koa';
import { RollgateError } from '../errors.js';

/**
 * The one place HTTP errors become responses. Errors marked `expose` keep their message; every
 * other failure is a plain 500 so internals (SQL, stack traces) never reach a client. The app's
 * 'error' event, where they are logged, still sees the full error.
 */
export async function errorMiddleware(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    const expose = err instanceof RollgateError && err.expose;
    ctx.status = err instanceof RollgateError ? err.status : 500;
    ctx.body = { error: expose ? (err as Error).message : 'internal error', code: err instanceof RollgateError ? err.code : 'internal' };
    if (!expose) ctx.app.emit('error', err, ctx);
  }
}
