import type { z } from 'zod';
import { BadRequestError } from '../errors.js';

/**
 * A route's query string through its zod schema; a 400 naming each wrong field otherwise. Empty
 * values count as absent, because a web page's GET form sends its blank fields.
 */
export function parseQuery<S extends z.ZodType>(schema: S, query: Readonly<Record<string, unknown>>): z.infer<S> {
  const parsed = schema.safeParse(Object.fromEntries(Object.entries(query).filter(([, v]) => v !== '')));
  if (!parsed.success) throw new BadRequestError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.data;
}
