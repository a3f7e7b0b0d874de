import type { Context } from 'koa';
import { RollgateError } from '../errors.js';

class TooLargeError extends RollgateError {
  override readonly code = 'too_large';
  override readonly status = 413;
  override readonly expose = true;
}

/** The request body as text, refused with 413 once it passes `maxBytes` (declared or streamed). */
export async function readBody(ctx: Context, maxBytes: number): Promise<string> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > maxBytes) throw new TooLargeError(`the body is ${declared} bytes; the limit is ${maxBytes}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new TooLargeError(`the body is over the limit of ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
