/**
 * How a retry's delay is spread out, so that many clients that failed together do not all come
 * back at the same moment: 'none' waits the whole delay, 'equal' half of it plus a random share of
 * the other half, 'full' a random share of all of it (spreads the most, may retry at once).
 */
export type Jitter = 'none' | 'equal' | 'full';

/** How retry delays grow: `baseMs * factor ** retry`, never above `maxMs`, then jittered. */
export interface BackoffCurve {
  /** The first retry's delay, before jitter. */
  readonly baseMs: number;
  /** The cap, before jitter. */
  readonly maxMs: number;
  /** Growth per retry; 2 (doubling) when left out. */
  readonly factor?: number;
  readonly jitter: Jitter;
}

/**
 * The delay before retry number `retry`, counted from 0 for the first retry.
 *
 * @param random - source of jitter in [0, 1); unused when `jitter` is 'none'
 */
export function exponentialBackoff(retry: number, curve: BackoffCurve, random: () => number = Math.random): number {
  const ceiling = cappedGrowth(retry, curve);
  switch (curve.jitter) {
    case 'none':
      return ceiling;
    case 'equal':
      return Math.round(ceiling / 2 + random() * (ceiling / 2));
    case 'full':
      // floored, so that a random() below 1 keeps the delay below the ceiling
      return Math.floor(random() * ceiling);
  }
}

function cappedGrowth(retry: number, curve: BackoffCurve): number {
  const grown = curve.baseMs * (curve.factor ?? 2) ** retry;
  // A large retry number overflows the power to Infinity, which Math.min caps; but a zero base
  // times Infinity is NaN, and a zero base means no wait however many retries there were.
  return Number.isNaN(grown) ? 0 : Math.min(grown, curve.maxMs);
}
