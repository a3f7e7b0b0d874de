import { createHash, timingSafeEqual } from 'node:crypto';

/** Constant-time comparison of digests, so neither a secret's content nor its length leaks through timing. */
export function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
