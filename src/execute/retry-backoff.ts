import { parseDuration } from '../duration.js';

/** Exponential backoff with "equal jitter": half the delay fixed, half random, capped. */
export function backoff(retry: { backoff: string; max_backoff: string }, attempt: number, random: () => number): number {
  const base = Math.min(parseDuration(retry.backoff)! * 2 ** (attempt - 1), parseDuration(retry.max_backoff)!);
  return Math.round(base / 2 + random() * (base / 2));
}
