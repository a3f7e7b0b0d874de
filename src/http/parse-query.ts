import type { z } from 'zod';
import { BadRequestError } from '../errors.js';

/** A route's query string through its zod schema; a 400 naming each wrong field otherwise. */
export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.infer<S> {
  const parsed = schema.safeParse(query);
  if (!parsed.success) throw new BadRequestError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.data;
}
