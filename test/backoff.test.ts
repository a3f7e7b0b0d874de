import { describe, expect, it } from 'vitest';
import { exponentialBackoff, type BackoffCurve } from '../src/backoff.js';

const SECOND_TO_FIVE: Omit<BackoffCurve, 'jitter'> = { baseMs: 1000, maxMs: 5000 };

describe('exponentialBackoff', () => {
  it.each([
    [0, 1000],
    [1, 2000],
    [2, 4000],
    [3, 5000],
    [40, 5000],
  ])('without jitter, retry %i waits %i ms', (retry, expected) => {
    expect(exponentialBackoff(retry, { ...SECOND_TO_FIVE, jitter: 'none' }, () => 0.5)).toBe(expected);
  });

  it.each([
    [0, 0, 500],
    [0, 0.5, 750],
    [0, 1, 1000],
    [2, 0, 2000],
    [2, 0.999, 3998],
    [3, 0, 2500],
    [3, 1, 5000],
    // a fraction of a millisecond is rounded to the nearest
    [0, 0.001, 501],
  ])('with equal jitter, retry %i with random %f waits %i ms', (retry, random, expected) => {
    expect(exponentialBackoff(retry, { ...SECOND_TO_FIVE, jitter: 'equal' }, () => random)).toBe(expected);
  });

  it.each([
    [0, 0, 0],
    [0, 0.5, 500],
    [1, 0.999, 1998],
    [3, 0.999, 4995],
    // floored: random() stays below 1, so the delay stays below the ceiling
    [0, 0.9999, 999],
  ])('with full jitter, retry %i with random %f waits %i ms', (retry, random, expected) => {
    expect(exponentialBackoff(retry, { ...SECOND_TO_FIVE, jitter: 'full' }, () => random)).toBe(expected);
  });

  it.each([
    [1, 0, 100],
    [1, 2, 100],
    [3, 2, 900],
    [1.5, 2, 225],
  ])('grows by factor %f: retry %i waits %i ms', (factor, retry, expected) => {
    expect(exponentialBackoff(retry, { baseMs: 100, maxMs: 10_000, factor, jitter: 'none' })).toBe(expected);
  });

  it.each(['none', 'equal', 'full'] as const)('stays at the cap however large the retry number (%s jitter)', (jitter) => {
    for (const retry of [1_023, 1_024, 100_000, Number.MAX_SAFE_INTEGER]) {
      expect(exponentialBackoff(retry, { baseMs: 1000, maxMs: 60_000, jitter }, () => 1)).toBe(60_000);
    }
  });

  it('keeps a zero base at zero however large the retry number', () => {
    expect(exponentialBackoff(100_000, { baseMs: 0, maxMs: 60_000, jitter: 'none' })).toBe(0);
  });

  it('draws no random number without jitter', () => {
    const random = (): number => {
      throw new Error('random() called');
    };
    expect(exponentialBackoff(1, { ...SECOND_TO_FIVE, jitter: 'none' }, random)).toBe(2000);
  });
});
