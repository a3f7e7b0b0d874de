import { PassThrough } from 'node:stream';
import type { Context } from 'koa';
import { z } from 'zod';
import { ENDED_STATUSES } from '../../db/schema.js';
import { BadRequestError, NotFoundError, UnavailableError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { RolloutReads } from '../../rollouts/rollout-reads.js';
import type { StepOutputStore } from '../../rollouts/step-output-store.js';

export interface OutputStreamOptions {
  /** How often the database is asked for new output (the worker may be another replica). */
  readonly pollMs?: number;
  /** A comment line this often keeps proxies from closing an idle stream. */
  readonly heartbeatMs?: number;
  /** Streams open at once per process; past it a page is told to come back (503). */
  readonly maxStreams?: number;
}

/** Chunks sent per database read; a page far behind catches up in several. */
const BATCH = 200;
const AfterSchema = z.coerce.number().int().min(0);

/**
 * `GET /api/rollouts/:id/output`: a rollout's step output as server-sent events, as it is stored.
 * Each `output` event carries one chunk (`step`, `attempt`, `offset`, `text`) with its id, so a
 * page that reconnects (the browser sends `Last-Event-ID`) resumes after the last chunk it got;
 * `?after=` starts after a chunk the page already shows. An `end` event says the rollout has
 * ended and every chunk was sent.
 */
export function outputStream(rollouts: RolloutReads, output: StepOutputStore, logger: Logger, o: OutputStreamOptions = {}) {
  const pollMs = o.pollMs ?? 250;
  const heartbeatMs = o.heartbeatMs ?? 15_000;
  const maxStreams = o.maxStreams ?? 100;
  let open = 0;
  return async (ctx: Context, rolloutId: number): Promise<void> => {
    const resumeAt = ctx.get('Last-Event-ID') || (typeof ctx.query.after === 'string' ? ctx.query.after : '0');
    const after = AfterSchema.safeParse(resumeAt);
    if (!after.success) throw new BadRequestError(`the output to resume after must be a chunk id (a number), got "${resumeAt}"`);
    if (!(await rollouts.get(rolloutId))) throw new NotFoundError(`no rollout ${rolloutId}`);
    if (open >= maxStreams) throw new UnavailableError(`${maxStreams} output streams are open; try again shortly`);
    open++;
    const stream = new PassThrough();
    let closed = false;
    let wake: (() => void) | undefined;
    const close = () => {
      if (closed) return;
      closed = true;
      open--;
      wake?.();
      stream.end();
    };
    // the response closes when the page goes away (the request's own 'close' comes as soon as it was read)
    ctx.res.on('close', close);
    ctx.req.socket.setTimeout(0);
    ctx.status = 200;
    ctx.type = 'text/event-stream';
    ctx.set('Cache-Control', 'no-store');
    // a proxy that buffers would hold the output back until the step ended
    ctx.set('X-Accel-Buffering', 'no');
    ctx.body = stream;
    void (async () => {
      let last = after.data;
      let quietSince = Date.now();
      stream.write('retry: 2000\n\n');
      try {
        while (!closed) {
          // the status first: output an ended rollout had is all stored before it ended
          const ended = ENDED_STATUSES.has((await rollouts.get(rolloutId))?.status ?? 'cancelled');
          const chunks = await output.since(rolloutId, last, BATCH);
          for (const c of chunks) {
            stream.write(`id: ${c.id}\nevent: output\ndata: ${JSON.stringify({ step: c.step_id, attempt: c.number, offset: c.offset, text: c.text })}\n\n`);
            last = c.id;
          }
          if (chunks.length === BATCH) continue;
          if (ended && chunks.length === 0) {
            stream.write('event: end\ndata: {}\n\n');
            break;
          }
          if (chunks.length > 0) quietSince = Date.now();
          else if (Date.now() - quietSince >= heartbeatMs) {
            stream.write(': still here\n\n');
            quietSince = Date.now();
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, pollMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
      } catch (err) {
        // the page reconnects and resumes after the last chunk it got
        logger.warn({ err, rollout: rolloutId }, 'output stream stopped');
      }
      close();
    })();
  };
}
