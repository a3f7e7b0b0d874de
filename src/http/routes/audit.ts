import type { Router } from '@koa/router';
import { createRouter } from '../router.js';
import { z } from 'zod';
import type { AuditPageQuery, AuditStore } from '../../audit/audit-store.js';
import { AUDIT_KINDS } from '../../audit/audit-trail.js';
import { ForbiddenError } from '../../errors.js';
import type { Operator, OperatorState } from '../../identity/operator.js';
import { requireOperator } from '../../identity/operator-resolver.js';
import { parseQuery } from '../parse-query.js';

export interface AuditRouteDeps {
  readonly store: Pick<AuditStore, 'page'>;
  /** `audit_readers` of the policy in force; undefined: anyone holding a role may read. */
  readonly readers: () => readonly string[] | undefined;
}

const AuditQuerySchema = z.object({
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  kind: z.enum(AUDIT_KINDS).optional(),
  rollout: z.coerce.number().int().positive().optional(),
});

/**
 * `GET /api/audit?after=&limit=&kind=&rollout=`: the audit trail oldest first, a page at a time
 * (`next` is the `after` of the following page, null at the end), with each entry's hashes so a
 * reader can check the chain. Only for a logged-in operator holding an `audit_readers` role.
 */
export function auditRoutes(deps: AuditRouteDeps): Router<OperatorState> {
  const router = createRouter<OperatorState>({ prefix: '/api/audit' });

  router.get('/', async (ctx) => {
    requireAuditReader(requireOperator(ctx), deps.readers());
    ctx.body = await deps.store.page(auditQuery(ctx.query));
  });

  return router;
}

/** The page of `GET /api/audit` and of the web page's audit trail; a 400 naming what is wrong. */
export function auditQuery(query: Readonly<Record<string, unknown>>): AuditPageQuery {
  const q = parseQuery(AuditQuerySchema, query);
  return { limit: q.limit, ...(q.after !== undefined ? { after: q.after } : {}), ...(q.kind ? { kind: q.kind } : {}), ...(q.rollout ? { rolloutId: q.rollout } : {}) };
}

/** Refuses (403, naming the role needed) an operator who may not read the audit trail. */
export function requireAuditReader(operator: Operator, readers: readonly string[] | undefined): void {
  const held = operator.roles.map((g) => g.role);
  if (readers ? held.some((role) => readers.includes(role)) : held.length > 0) return;
  const who = operator.account.username ?? operator.account.name ?? `account ${operator.account.accountId}`;
  throw new ForbiddenError(
    readers
      ? `reading the audit trail needs role ${readers.join(' or ')} (audit_readers in roles.yaml); ${who} holds ${held.length > 0 ? held.join(', ') : 'no role'}`
      : `reading the audit trail needs a role from roles.yaml; ${who} holds none`,
  );
}
