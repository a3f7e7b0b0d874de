import type { Router } from '@koa/router';
import { createRouter } from '../router.js';
import { z } from 'zod';
import { ROLLOUT_STATUSES, type RolloutRow, type RolloutStatus, type StepAttemptRow, type StepRow } from '../../db/schema.js';
import { BadRequestError, NotFoundError } from '../../errors.js';
import type { RolloutReads } from '../../rollouts/rollout-reads.js';
import { requireOperator } from '../../identity/operator-resolver.js';
import { parseQuery } from '../parse-query.js';
import type { Logger } from '../../log.js';
import type { StepOutputStore } from '../../rollouts/step-output-store.js';
import { outputStream, type OutputStreamOptions } from './output-stream.js';

const ListQuerySchema = z.object({
  status: z.enum(ROLLOUT_STATUSES).optional(),
  project: z.string().min(1).optional(),
  change: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

const IdSchema = z.coerce.number().int().positive();

export interface ListFilter {
  readonly status?: RolloutStatus;
  readonly project?: string;
  readonly changeNumber?: number;
  readonly limit: number;
}

/** The rollouts filter of `GET /api/rollouts` and of the web page's list; a 400 naming what is wrong. */
export function listFilter(query: Readonly<Record<string, unknown>>): ListFilter {
  const { status, project, change, limit } = parseQuery(ListQuerySchema, query);
  return { limit, ...(status ? { status } : {}), ...(project ? { project } : {}), ...(change ? { changeNumber: change } : {}) };
}

/** A rollout id from a URL path segment; undefined when it is not a positive number. */
export function parseRolloutId(text: string | undefined): number | undefined {
  const id = IdSchema.safeParse(text);
  return id.success ? id.data : undefined;
}

/** A rollout id from a URL path segment, or a 400 naming what was given. */
function rolloutIdParam(text: string | undefined): number {
  const id = parseRolloutId(text);
  if (id === undefined) throw new BadRequestError(`rollout id must be a positive number, got "${text}"`);
  return id;
}

export interface RolloutRouteOptions {
  readonly loginRequired: boolean;
  /** Step output as stored while steps ran: the live stream and each attempt's whole output. */
  readonly output: StepOutputStore;
  readonly logger: Logger;
  readonly stream?: OutputStreamOptions;
}

/**
 * Read-only views of rollouts: their decision, reasons, steps and every attempt, and the steps'
 * output (live, and each attempt's whole); with `loginRequired`, for logged-in operators only.
 */
export function rolloutRoutes(rollouts: RolloutReads, o: RolloutRouteOptions): Router {
  const router = createRouter({ prefix: '/api/rollouts' });
  if (o.loginRequired) {
    router.use(async (ctx, next) => {
      requireOperator(ctx);
      await next();
    });
  }

  router.get('/', async (ctx) => {
    ctx.body = { rollouts: (await rollouts.list(listFilter(ctx.query))).map((r) => rolloutView(r)) };
  });

  router.get('/:id', async (ctx) => {
    const id = rolloutIdParam(ctx.params.id);
    const row = await rollouts.get(id);
    if (!row) throw new NotFoundError(`no rollout ${id}`);
    ctx.body = rolloutView(row, await rollouts.steps(row.id), await rollouts.attempts(row.id));
  });

  const stream = outputStream(rollouts, o.output, o.logger, o.stream);
  router.get('/:id/output', (ctx) => stream(ctx, rolloutIdParam(ctx.params.id)));

  router.get('/:id/steps/:step/attempts/:number/output', async (ctx) => {
    const id = rolloutIdParam(ctx.params.id);
    const number = IdSchema.safeParse(ctx.params.number);
    if (!number.success) throw new BadRequestError(`attempt must be a positive number, got "${ctx.params.number}"`);
    const attempt = (await rollouts.attempts(id)).find((a) => a.step_id === ctx.params.step && a.number === number.data);
    if (!attempt) throw new NotFoundError(`rollout ${id} has no attempt ${number.data} of step "${ctx.params.step}"`);
    const chunks = await o.output.attempt({ rolloutId: id, stepId: attempt.step_id, number: attempt.number });
    const dropped = chunks[0]?.offset ?? 0;
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = (dropped > 0 ? `[the first ${dropped} bytes of this output were not kept]\n` : '') + chunks.map((c) => c.text).join('');
  });

  return router;
}

/** A rollout as the API shows it; with `steps` (and each one's attempts) for the detail view. */
export function rolloutView(r: RolloutRow, steps?: readonly StepRow[], attempts: readonly StepAttemptRow[] = []) {
  return {
    id: r.id,
    rule: r.rule,
    workflow: r.workflow,
    environment: r.environment,
    change: { project: r.project, branch: r.branch, number: r.change_number, patchset: r.patchset, revision: r.revision, newRev: r.new_rev, subject: r.subject },
    decision: r.decision,
    status: r.status,
    outcome: r.outcome,
    run: r.run,
    supersededBy: r.superseded_by,
    reasons: r.reasons,
    approvers: r.approvers,
    justification: r.justification,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    ...(steps
      ? {
          steps: steps.map((s) => ({
            id: s.step_id,
            kind: s.kind,
            status: s.status,
            attempts: s.attempts,
            exitCode: s.exit_code,
            startedAt: s.started_at,
            finishedAt: s.finished_at,
            durationMs: s.duration_ms,
            outputTail: s.output_tail,
            error: s.error,
            httpStatus: s.http_status,
            note: s.note,
            attemptLog: attempts
              .filter((a) => a.step_id === s.step_id)
              .map((a) => ({
                number: a.number,
                attempt: a.attempt,
                status: a.status,
                worker: a.worker,
                startedAt: a.started_at,
                finishedAt: a.finished_at,
                exitCode: a.exit_code,
                httpStatus: a.http_status,
                error: a.error,
              })),
          })),
        }
      : {}),
  };
}
