import { ForbiddenError } from '../errors.js';
import { sameSecret } from './same-secret.js';
import type { Operator } from './operator.js';

/** Where a page or script sends the CSRF token back. */
export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_FIELD = '_csrf';

/**
 * A request made with the session cookie must carry the session's CSRF token, so another site
 * cannot act through an operator's browser. Bearer requests carry their credential explicitly
 * and need none.
 */
export function requireCsrf(operator: Operator, presented: string | undefined): void {
  if (operator.via !== 'session') return;
  if (operator.csrfToken === undefined || !sameSecret(presented, operator.csrfToken)) {
    throw new ForbiddenError(`missing or wrong CSRF token: send the X-CSRF-Token header or the ${CSRF_FIELD} form field with the value GET /auth/me gives`);
  }
}

/** The token from the header, else from the body's `_csrf` field. */
export function presentedCsrf(header: string, fields: Readonly<Record<string, unknown>>): string | undefined {
  if (header !== '') return header;
  const field = fields[CSRF_FIELD];
  return typeof field === 'string' ? field : undefined;
}
