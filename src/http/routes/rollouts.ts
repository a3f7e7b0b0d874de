import type { Router } from '@koa/router';
import { createRouter } from '../router.js';
import { z } from 'zod';
import { ROLLOUT_STATUSES, type RolloutRow, type RolloutStatus, type StepRow } from '../../db/schema.js';
import { BadRequestError, NotFoundError } from '../../errors.js';
import type { RolloutReads } from '../../rollouts/rollout-reads.js';
import { requireOperator } from '../../identity/operator-resolver.js';
import { parseQuery } from '../parse-query.js';

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

/** Read-only views of rollouts: their decision, reasons and steps; with `loginRequired`, for logged-in operators only. */
export function rolloutRoutes(rollouts: RolloutReads, o: { readonly loginRequired: boolean }): Router {
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
    const id = parseRolloutId(ctx.params.id);
    if (id === undefined) throw new BadRequestError(`rollout id must be a positive number, got "${ctx.params.id}"`);
    const row = await rollouts.get(id);
    if (!row) throw new NotFoundError(`no rollout ${id}`);
    ctx.body = rolloutView(row, await rollouts.steps(row.id));
  });

  return router;
}

/** A rollout as the API shows it; with `steps` for the detail view. */
export function rolloutView(r: RolloutRow, steps?: readonly StepRow[]) {
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
          })),
        }
      : {}),
  };
}
