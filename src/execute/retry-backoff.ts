import { exponentialBackoff } from '../backoff.js';
import { parseDuration } from '../duration.js';

/**
 * How long a failed step waits before its next attempt (`attempt` is the one that just failed,
 * from 1): the workflow's `backoff`, doubled per attempt up to `max_backoff`, half of it jittered.
 */
export function stepRetryDelay(retry: { backoff: string; max_backoff: string }, attempt: number, random: () => number): number {
  const curve = { baseMs: parseDuration(retry.backoff)!, maxMs: parseDuration(retry.max_backoff)!, jitter: 'equal' } as const;
  return exponentialBackoff(attempt - 1, curve, random);
}
