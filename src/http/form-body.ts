import type { Context } from 'koa';
import { BadRequestError } from '../errors.js';
import { readBody } from './read-body.js';

/** Forms and small JSON documents; nothing an operator sends is larger. */
const MAX_BYTES = 64 * 1024;

/**
 * The fields of a JSON object body or an HTML form (`application/x-www-form-urlencoded`), for
 * routes that take both (the API from scripts, the web page's forms). `form` says which it was.
 * An empty body is no fields; anything else is a 400 naming what was expected.
 */
export async function readFields(ctx: Context): Promise<{ readonly fields: Readonly<Record<string, unknown>>; readonly form: boolean }> {
  const text = await readBody(ctx, MAX_BYTES);
  if (ctx.is('application/x-www-form-urlencoded')) return { fields: Object.fromEntries(new URLSearchParams(text)), form: true };
  if (text.trim() === '') return { fields: {}, form: false };
  if (!ctx.is('application/json')) throw new BadRequestError('send the body as application/json or as an HTML form (application/x-www-form-urlencoded)');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadRequestError('the body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequestError('the body must be a JSON object, e.g. {"justification": "…"}');
  return { fields: value as Record<string, unknown>, form: false };
}
